/* HSATTN_EXPORT marks what libhsa_runtime.so exports: the C API (hsattn.h)
 * and the C++ class hsa::Runtime (runtime.hpp). The library is built with
 * hidden visibility, so nothing else leaves it; the other public headers are
 * header-only. In the static library the mark changes nothing. */
#ifndef HSATTN_EXPORT_H
#define HSATTN_EXPORT_H

/* HSATTN_HIDDEN keeps the library's own parts of an exported class (the
 * Runtime::Impl it defines) out of the exports a nested class inherits. */
#if defined(__GNUC__) || defined(__clang__)
#define HSATTN_EXPORT __attribute__((visibility("default")))
#define HSATTN_HIDDEN __attribute__((visibility("hidden")))
#else
#define HSATTN_EXPORT
#define HSATTN_HIDDEN
#endif

#endif /* HSATTN_EXPORT_H */
