/* HSATTN_EXPORT marks what libhsa_runtime.so exports: the C API (hsattn.h)
 * and the C++ class hsa::Runtime (runtime.hpp). The library is built with
 * hidden visibility, so nothing else leaves it; the other public headers are
 * header-only. In the static library the mark changes nothing. */
#ifndef HSATTN_EXPORT_H
#define HSATTN_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define HSATTN_EXPORT __attribute__((visibility("default")))
#else
#define HSATTN_EXPORT
#endif

#endif /* HSATTN_EXPORT_H */
