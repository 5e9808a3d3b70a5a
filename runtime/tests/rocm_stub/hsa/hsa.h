/* A stand-in for AMD ROCm's HSA runtime header (ROCR-Runtime, installed as
 * <hsa/hsa.h>), for tests only: a subset of its names, spelled and shaped as
 * ROCm declares them (hsa_status_t with HSA_STATUS_*, hsa_init, hsa_agent_t,
 * the HSA_API decoration, its include guard). Nothing here is hsa's: the test
 * that includes it with hsa's public headers shows that an engine built for
 * ROCm can include both. */
#ifndef HSA_RUNTIME_INC_HSA_H_
#define HSA_RUNTIME_INC_HSA_H_

#include <stddef.h>
#include <stdint.h>
#ifndef __cplusplus
#include <stdbool.h>
#endif

#define HSA_EXPORT_DECORATOR __attribute__((visibility("default")))
#define HSA_IMPORT_DECORATOR
#define HSA_CALL
#define HSA_API_EXPORT HSA_EXPORT_DECORATOR HSA_CALL
#define HSA_API_IMPORT HSA_IMPORT_DECORATOR HSA_CALL
#define HSA_API HSA_API_IMPORT
#define HSA_LARGE_MODEL
#define HSA_LITTLE_ENDIAN
#define HSA_VERSION_1_0 1

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  HSA_STATUS_SUCCESS = 0x0,
  HSA_STATUS_INFO_BREAK = 0x1,
  HSA_STATUS_ERROR = 0x1000,
  HSA_STATUS_ERROR_INVALID_ARGUMENT = 0x1001,
  HSA_STATUS_ERROR_INVALID_QUEUE_CREATION = 0x1002,
  HSA_STATUS_ERROR_INVALID_ALLOCATION = 0x1003,
  HSA_STATUS_ERROR_INVALID_AGENT = 0x1004,
  HSA_STATUS_ERROR_INVALID_REGION = 0x1005,
  HSA_STATUS_ERROR_INVALID_SIGNAL = 0x1006,
  HSA_STATUS_ERROR_INVALID_QUEUE = 0x1007,
  HSA_STATUS_ERROR_OUT_OF_RESOURCES = 0x1008,
  HSA_STATUS_ERROR_NOT_INITIALIZED = 0x100B
} hsa_status_t;

hsa_status_t HSA_API hsa_status_string(hsa_status_t status, const char** status_string);

typedef struct hsa_dim3_s {
  uint32_t x;
  uint32_t y;
  uint32_t z;
} hsa_dim3_t;

typedef enum { HSA_ACCESS_PERMISSION_RO = 1, HSA_ACCESS_PERMISSION_WO = 2, HSA_ACCESS_PERMISSION_RW = 3 }
    hsa_access_permission_t;

hsa_status_t HSA_API hsa_init(void);
hsa_status_t HSA_API hsa_shut_down(void);

typedef enum { HSA_ENDIANNESS_LITTLE = 0, HSA_ENDIANNESS_BIG = 1 } hsa_endianness_t;
typedef enum { HSA_MACHINE_MODEL_SMALL = 0, HSA_MACHINE_MODEL_LARGE = 1 } hsa_machine_model_t;

typedef enum {
  HSA_SYSTEM_INFO_VERSION_MAJOR = 0,
  HSA_SYSTEM_INFO_VERSION_MINOR = 1,
  HSA_SYSTEM_INFO_TIMESTAMP = 2
} hsa_system_info_t;
hsa_status_t HSA_API hsa_system_get_info(hsa_system_info_t attribute, void* value);

typedef struct hsa_agent_s {
  uint64_t handle;
} hsa_agent_t;
typedef struct hsa_signal_s {
  uint64_t handle;
} hsa_signal_t;
typedef struct hsa_region_s {
  uint64_t handle;
} hsa_region_t;
typedef struct hsa_executable_s {
  uint64_t handle;
} hsa_executable_t;
typedef int64_t hsa_signal_value_t;

hsa_status_t HSA_API hsa_iterate_agents(hsa_status_t (*callback)(hsa_agent_t agent, void* data), void* data);

typedef enum { HSA_QUEUE_TYPE_MULTI = 0, HSA_QUEUE_TYPE_SINGLE = 1 } hsa_queue_type_t;
typedef struct hsa_queue_s {
  hsa_queue_type_t type;
  uint32_t features;
  void* base_address;
  hsa_signal_t doorbell_signal;
  uint32_t size;
  uint32_t reserved1;
  uint64_t id;
} hsa_queue_t;

#ifdef __cplusplus
}
#endif

#endif /* HSA_RUNTIME_INC_HSA_H_ */
