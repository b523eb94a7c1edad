/*
 * The few system calls a Linux watchdog device needs, exposed to Node through N-API:
 * open/close a descriptor, write bytes (keepalive, magic close 'V') and the WDIOC_* ioctls.
 * Every call is synchronous and short; failures throw an Error whose `code` is the errno name
 * (ENOENT, EACCES, ENOTTY, ...) and whose `errno` is the number, like Node's own fs errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/watchdog.h>
#include <node_api.h>

#define CHECK(call)                                                        \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      napi_throw_error(env, NULL, "[watchdog] N-API call failed: " #call); \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

static const char *errno_code(int err) {
  switch (err) {
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EBUSY: return "EBUSY";
    case EBADF: return "EBADF";
    case EINVAL: return "EINVAL";
    case ENOTTY: return "ENOTTY";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ENODEV: return "ENODEV";
    case ENXIO: return "ENXIO";
    case EIO: return "EIO";
    case EINTR: return "EINTR";
    case EROFS: return "EROFS";
    case EISDIR: return "EISDIR";
    default: return "EUNKNOWN";
  }
}

/* Throws an Error carrying errno; returns NULL so callers can `return throw_errno(...)`. */
static napi_value throw_errno(napi_env env, int err, const char *syscall) {
  char message[256];
  napi_value msg, code, error, number, name;
  snprintf(message, sizeof message, "%s: %s (%s)", syscall, strerror(err), errno_code(err));
  if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg) != napi_ok ||
      napi_create_string_utf8(env, errno_code(err), NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_error(env, code, msg, &error) != napi_ok ||
      napi_create_int32(env, err, &number) != napi_ok ||
      napi_set_named_property(env, error, "errno", number) != napi_ok ||
      napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_set_named_property(env, error, "syscall", name) != napi_ok) {
    napi_throw_error(env, NULL, message);
    return NULL;
  }
  napi_throw(env, error);
  return NULL;
}

static int arg_int(napi_env env, napi_callback_info info, size_t count, int32_t *out) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < count) {
    napi_throw_type_error(env, NULL, "[watchdog] missing argument");
    return 0;
  }
  for (size_t i = 0; i < count; i++) {
    if (napi_get_value_int32(env, argv[i], &out[i]) != napi_ok) {
      napi_throw_type_error(env, NULL, "[watchdog] expected an integer argument");
      return 0;
    }
  }
  return 1;
}

static napi_value int_value(napi_env env, int32_t value) {
  napi_value result;
  CHECK(napi_create_int32(env, value, &result));
  return result;
}

/* open(path): fd. Write-only, as the kernel expects; close-on-exec so children never inherit it. */
static napi_value wd_open(napi_env env, napi_callback_info info) {
  size_t argc = 1, len = 0;
  napi_value argv[1];
  char path[4096];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "[watchdog] open(path) expects a string");
    return NULL;
  }
  int fd;
  do {
    fd = open(path, O_WRONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return throw_errno(env, errno, "open");
  return int_value(env, fd);
}

/* close(fd) */
static napi_value wd_close(napi_env env, napi_callback_info info) {
  int32_t args[1];
  if (!arg_int(env, info, 1, args)) return NULL;
  if (close(args[0]) < 0 && errno != EINTR) return throw_errno(env, errno, "close");
  return NULL;
}

/* write(fd, text): bytes written. '1' pings the device, 'V' arms the magic close. */
static napi_value wd_write(napi_env env, napi_callback_info info) {
  size_t argc = 2, len = 0;
  napi_value argv[2];
  int32_t fd;
  char data[64];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], data, sizeof data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "[watchdog] write(fd, text) expects an integer and a string");
    return NULL;
  }
  ssize_t written;
  do {
    written = write(fd, data, len);
  } while (written < 0 && errno == EINTR);
  if (written < 0) return throw_errno(env, errno, "write");
  return int_value(env, (int32_t)written);
}

/* getSupport(fd): { options, firmwareVersion, identity } from WDIOC_GETSUPPORT. */
static napi_value wd_get_support(napi_env env, napi_callback_info info) {
  int32_t args[1];
  struct watchdog_info wi;
  napi_value result, options, version, identity;
  size_t idlen = 0;
  if (!arg_int(env, info, 1, args)) return NULL;
  memset(&wi, 0, sizeof wi);
  if (ioctl(args[0], WDIOC_GETSUPPORT, &wi) < 0) return throw_errno(env, errno, "ioctl(WDIOC_GETSUPPORT)");
  while (idlen < sizeof wi.identity && wi.identity[idlen] != 0) idlen++;
  CHECK(napi_create_object(env, &result));
  CHECK(napi_create_uint32(env, wi.options, &options));
  CHECK(napi_create_uint32(env, wi.firmware_version, &version));
  CHECK(napi_create_string_latin1(env, (const char *)wi.identity, idlen, &identity));
  CHECK(napi_set_named_property(env, result, "options", options));
  CHECK(napi_set_named_property(env, result, "firmwareVersion", version));
  CHECK(napi_set_named_property(env, result, "identity", identity));
  return result;
}

/* setTimeout(fd, seconds): the timeout the device actually took (drivers may round it). */
static napi_value wd_set_timeout(napi_env env, napi_callback_info info) {
  int32_t args[2];
  if (!arg_int(env, info, 2, args)) return NULL;
  int timeout = args[1];
  if (ioctl(args[0], WDIOC_SETTIMEOUT, &timeout) < 0) return throw_errno(env, errno, "ioctl(WDIOC_SETTIMEOUT)");
  return int_value(env, timeout);
}

/* getTimeout(fd): seconds. */
static napi_value wd_get_timeout(napi_env env, napi_callback_info info) {
  int32_t args[1];
  if (!arg_int(env, info, 1, args)) return NULL;
  int timeout = 0;
  if (ioctl(args[0], WDIOC_GETTIMEOUT, &timeout) < 0) return throw_errno(env, errno, "ioctl(WDIOC_GETTIMEOUT)");
  return int_value(env, timeout);
}

/* keepalive(fd) through WDIOC_KEEPALIVE (only for devices that report WDIOF_KEEPALIVEPING). */
static napi_value wd_keepalive(napi_env env, napi_callback_info info) {
  int32_t args[1];
  if (!arg_int(env, info, 1, args)) return NULL;
  int dummy = 0;
  if (ioctl(args[0], WDIOC_KEEPALIVE, &dummy) < 0) return throw_errno(env, errno, "ioctl(WDIOC_KEEPALIVE)");
  return NULL;
}

/* setOptions(fd, flags): WDIOS_DISABLECARD / WDIOS_ENABLECARD through WDIOC_SETOPTIONS. */
static napi_value wd_set_options(napi_env env, napi_callback_info info) {
  int32_t args[2];
  if (!arg_int(env, info, 2, args)) return NULL;
  int flags = args[1];
  if (ioctl(args[0], WDIOC_SETOPTIONS, &flags) < 0) return throw_errno(env, errno, "ioctl(WDIOC_SETOPTIONS)");
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, wd_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, wd_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"write", NULL, wd_write, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getSupport", NULL, wd_get_support, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setTimeout", NULL, wd_set_timeout, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getTimeout", NULL, wd_get_timeout, NULL, NULL, NULL, napi_enumerable, NULL},
      {"keepalive", NULL, wd_keepalive, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setOptions", NULL, wd_set_options, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
