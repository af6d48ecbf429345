/*
 * attested-pack vsock addon: the few syscalls Node cannot make by itself.
 *
 * - AF_VSOCK stream sockets (socket/bind/listen/connect/accept/read/write/shutdown/close), always
 *   non-blocking, so nothing here ever blocks the event loop.
 * - A `Poller` class wrapping libuv's uv_poll_t, which tells JavaScript when a descriptor is
 *   readable or writable; the Duplex stream in vsock/socket.ts is built on it. (libuv's TCP and pipe
 *   handles refuse AF_VSOCK descriptors, so `new net.Socket({fd})` is not an option.)
 * - The Nitro Security Module raw ioctl on /dev/nsm (NSM_IOCTL_RAW), run on the libuv threadpool.
 *
 * Every failure throws (or rejects with) an Error carrying `errno` (a positive errno number) and
 * `syscall`; vsock/errno.ts maps them to typed codes. No function here interprets the data it moves.
 *
 * aes_gcm.c (same addon) adds aesGcmOpenBatch: SOPS value decryption through OpenSSL in one call.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

/* ---- NSM uapi (linux/nsm.h; not shipped by every distribution's headers) -------------------- */

struct ap_nsm_iovec {
  uint64_t addr;
  uint64_t len;
};

struct ap_nsm_raw {
  struct ap_nsm_iovec request;
  struct ap_nsm_iovec response;
};

#define AP_NSM_MAGIC 0x0A
#define AP_NSM_IOCTL_RAW _IOWR(AP_NSM_MAGIC, 0x0, struct ap_nsm_raw)
#define AP_NSM_REQUEST_MAX 0x1000
#define AP_NSM_RESPONSE_MAX 0x3000

_Static_assert(sizeof(struct ap_nsm_raw) == 32, "nsm_raw must be 32 bytes");

/* ---- helpers ------------------------------------------------------------------------------- */

#define CHECK_NAPI(env, call)                                                                    \
  do {                                                                                           \
    if ((call) != napi_ok) {                                                                     \
      napi_throw_error((env), "VSOCK_ADDON", "N-API call failed: " #call);                       \
      return NULL;                                                                               \
    }                                                                                            \
  } while (0)

/* Builds an Error whose `errno` and `syscall` properties let JavaScript map it to a typed code. */
static napi_value make_errno_error(napi_env env, const char *syscall, int err) {
  char text[256];
  napi_value message, error, errno_value, syscall_value;
  snprintf(text, sizeof text, "%s: %s", syscall, strerror(err));
  if (napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message) != napi_ok) return NULL;
  if (napi_create_error(env, NULL, message, &error) != napi_ok) return NULL;
  napi_create_int32(env, err, &errno_value);
  napi_set_named_property(env, error, "errno", errno_value);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_value);
  napi_set_named_property(env, error, "syscall", syscall_value);
  return error;
}

static napi_value throw_errno(napi_env env, const char *syscall, int err) {
  napi_value error = make_errno_error(env, syscall, err);
  if (error != NULL) napi_throw(env, error);
  return NULL;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
  if (argc < want) {
    napi_throw_type_error(env, "VSOCK_ADDON_ARGS", "missing arguments");
    return 0;
  }
  return 1;
}

static int get_int32_arg(napi_env env, napi_value value, int32_t *out) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_number) {
    napi_throw_type_error(env, "VSOCK_ADDON_ARGS", "expected a number");
    return 0;
  }
  return napi_get_value_int32(env, value, out) == napi_ok;
}

static int get_uint32_arg(napi_env env, napi_value value, uint32_t *out) {
  napi_valuetype type;
  double d;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_number) {
    napi_throw_type_error(env, "VSOCK_ADDON_ARGS", "expected a number");
    return 0;
  }
  napi_get_value_double(env, value, &d);
  if (!(d >= 0 && d <= 4294967295.0) || d != (double)(uint32_t)d) {
    napi_throw_range_error(env, "VSOCK_ADDON_ARGS", "expected an unsigned 32-bit integer");
    return 0;
  }
  *out = (uint32_t)d;
  return 1;
}

static int get_bytes_arg(napi_env env, napi_value value, uint8_t **data, size_t *length) {
  bool is_typed;
  napi_typedarray_type type;
  void *ptr;
  size_t len;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) {
    napi_throw_type_error(env, "VSOCK_ADDON_ARGS", "expected a Uint8Array");
    return 0;
  }
  if (napi_get_typedarray_info(env, value, &type, &len, &ptr, NULL, NULL) != napi_ok ||
      type != napi_uint8_array) {
    napi_throw_type_error(env, "VSOCK_ADDON_ARGS", "expected a Uint8Array");
    return 0;
  }
  *data = (uint8_t *)ptr;
  *length = len;
  return 1;
}

static napi_value make_int(napi_env env, int64_t v) {
  napi_value out;
  napi_create_int64(env, v, &out);
  return out;
}

static napi_value make_address(napi_env env, const struct sockaddr_vm *addr) {
  napi_value out, cid, port;
  napi_create_object(env, &out);
  napi_create_uint32(env, addr->svm_cid, &cid);
  napi_create_uint32(env, addr->svm_port, &port);
  napi_set_named_property(env, out, "cid", cid);
  napi_set_named_property(env, out, "port", port);
  return out;
}

static void fill_address(struct sockaddr_vm *addr, uint32_t cid, uint32_t port) {
  memset(addr, 0, sizeof *addr);
  addr->svm_family = AF_VSOCK;
  addr->svm_cid = cid;
  addr->svm_port = port;
}

/* ---- sockets ------------------------------------------------------------------------------- */

/* socket() -> fd: a non-blocking, close-on-exec AF_VSOCK stream socket. */
static napi_value js_socket(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  return make_int(env, fd);
}

/* bind(fd, cid, port) */
static napi_value js_bind(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd;
  uint32_t cid, port;
  struct sockaddr_vm addr;
  if (!get_args(env, info, 3, argv) || !get_int32_arg(env, argv[0], &fd) ||
      !get_uint32_arg(env, argv[1], &cid) || !get_uint32_arg(env, argv[2], &port))
    return NULL;
  fill_address(&addr, cid, port);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) return throw_errno(env, "bind", errno);
  return NULL;
}

/* listen(fd, backlog) */
static napi_value js_listen(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd, backlog;
  if (!get_args(env, info, 2, argv) || !get_int32_arg(env, argv[0], &fd) ||
      !get_int32_arg(env, argv[1], &backlog))
    return NULL;
  if (listen(fd, backlog) < 0) return throw_errno(env, "listen", errno);
  return NULL;
}

/* connect(fd, cid, port) -> true when connected at once, false when in progress (poll writable,
 * then read socketError). */
static napi_value js_connect(napi_env env, napi_callback_info info) {
  napi_value argv[3], out;
  int32_t fd;
  uint32_t cid, port;
  struct sockaddr_vm addr;
  int rc;
  if (!get_args(env, info, 3, argv) || !get_int32_arg(env, argv[0], &fd) ||
      !get_uint32_arg(env, argv[1], &cid) || !get_uint32_arg(env, argv[2], &port))
    return NULL;
  fill_address(&addr, cid, port);
  do {
    rc = connect(fd, (struct sockaddr *)&addr, sizeof addr);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0 && errno != EINPROGRESS) return throw_errno(env, "connect", errno);
  napi_get_boolean(env, rc == 0, &out);
  return out;
}

/* socketError(fd) -> pending error (SO_ERROR) as a positive errno, 0 when none. */
static napi_value js_socket_error(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  int err = 0;
  socklen_t len = sizeof err;
  if (!get_args(env, info, 1, argv) || !get_int32_arg(env, argv[0], &fd)) return NULL;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
    return throw_errno(env, "getsockopt", errno);
  return make_int(env, err);
}

/* accept(fd) -> {fd, cid, port} or null when no connection is waiting. */
static napi_value js_accept(napi_env env, napi_callback_info info) {
  napi_value argv[1], out, fd_value;
  int32_t fd;
  int client;
  struct sockaddr_vm addr;
  socklen_t len = sizeof addr;
  if (!get_args(env, info, 1, argv) || !get_int32_arg(env, argv[0], &fd)) return NULL;
  do {
    client = accept4(fd, (struct sockaddr *)&addr, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
  } while (client < 0 && errno == EINTR);
  if (client < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      napi_get_null(env, &out);
      return out;
    }
    return throw_errno(env, "accept", errno);
  }
  out = make_address(env, &addr);
  napi_create_int32(env, client, &fd_value);
  napi_set_named_property(env, out, "fd", fd_value);
  return out;
}

/* read(fd, buffer) -> bytes read, 0 at end of stream, -1 when nothing is available yet. */
static napi_value js_read(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  uint8_t *data;
  size_t len;
  ssize_t n;
  if (!get_args(env, info, 2, argv) || !get_int32_arg(env, argv[0], &fd) ||
      !get_bytes_arg(env, argv[1], &data, &len))
    return NULL;
  do {
    n = recv(fd, data, len, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return make_int(env, -1);
    return throw_errno(env, "read", errno);
  }
  return make_int(env, n);
}

/* write(fd, bytes) -> bytes written (maybe fewer than asked), -1 when the socket is full. */
static napi_value js_write(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  uint8_t *data;
  size_t len;
  ssize_t n;
  if (!get_args(env, info, 2, argv) || !get_int32_arg(env, argv[0], &fd) ||
      !get_bytes_arg(env, argv[1], &data, &len))
    return NULL;
  do {
    n = send(fd, data, len, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return make_int(env, -1);
    return throw_errno(env, "write", errno);
  }
  return make_int(env, n);
}

/* shutdown(fd, how) with how = 0 (read), 1 (write), 2 (both). ENOTCONN is not an error here. */
static napi_value js_shutdown(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd, how;
  if (!get_args(env, info, 2, argv) || !get_int32_arg(env, argv[0], &fd) ||
      !get_int32_arg(env, argv[1], &how))
    return NULL;
  if (shutdown(fd, how) < 0 && errno != ENOTCONN) return throw_errno(env, "shutdown", errno);
  return NULL;
}

/* close(fd). Callers stop any Poller on the descriptor first. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, argv) || !get_int32_arg(env, argv[0], &fd)) return NULL;
  /* Linux releases the descriptor even when close() reports EINTR: never retry. */
  if (close(fd) < 0 && errno != EINTR) return throw_errno(env, "close", errno);
  return NULL;
}

static napi_value address_of(napi_env env, napi_callback_info info, int peer) {
  napi_value argv[1];
  int32_t fd;
  struct sockaddr_vm addr;
  socklen_t len = sizeof addr;
  int rc;
  if (!get_args(env, info, 1, argv) || !get_int32_arg(env, argv[0], &fd)) return NULL;
  memset(&addr, 0, sizeof addr);
  rc = peer ? getpeername(fd, (struct sockaddr *)&addr, &len)
            : getsockname(fd, (struct sockaddr *)&addr, &len);
  if (rc < 0) return throw_errno(env, peer ? "getpeername" : "getsockname", errno);
  if (addr.svm_family != AF_VSOCK) return throw_errno(env, peer ? "getpeername" : "getsockname", EAFNOSUPPORT);
  return make_address(env, &addr);
}

/* localAddress(fd) -> {cid, port} */
static napi_value js_local_address(napi_env env, napi_callback_info info) {
  return address_of(env, info, 0);
}

/* remoteAddress(fd) -> {cid, port} */
static napi_value js_remote_address(napi_env env, napi_callback_info info) {
  return address_of(env, info, 1);
}

/* localCid() -> this machine's CID, read from /dev/vsock (no network traffic). */
static napi_value js_local_cid(napi_env env, napi_callback_info info) {
  (void)info;
  unsigned int cid = 0;
  int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "open /dev/vsock", errno);
  if (ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "ioctl IOCTL_VM_SOCKETS_GET_LOCAL_CID", err);
  }
  close(fd);
  return make_int(env, cid);
}

/* unixSocketPair() -> [fd, fd]: a connected non-blocking AF_UNIX stream pair. Only for tests: it
 * drives VsockSocket's read/write/poll machinery where no vsock peer may be reached. */
static napi_value js_unix_socket_pair(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  napi_value out;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0)
    return throw_errno(env, "socketpair", errno);
  napi_create_array_with_length(env, 2, &out);
  napi_set_element(env, out, 0, make_int(env, fds[0]));
  napi_set_element(env, out, 1, make_int(env, fds[1]));
  return out;
}

/* ---- Poller: uv_poll_t for one descriptor -------------------------------------------------- */

typedef struct {
  uv_poll_t handle;
  napi_env env;
  napi_ref callback; /* the JS function called with (status, events) */
  napi_ref self;     /* the wrapper object: a strong reference while polling, weak otherwise */
  napi_async_context context;
  int active;    /* uv_poll_start succeeded and was not stopped */
  int closing;   /* uv_close was called */
  int finalized; /* the JS wrapper was garbage collected (or the environment is going away) */
  int released;  /* uv_close's callback ran */
} poller_t;

static void poller_on_close(uv_handle_t *handle) {
  poller_t *p = (poller_t *)handle->data;
  p->released = 1;
  if (p->finalized) free(p);
}

static void poller_release_js(poller_t *p) {
  if (p->callback != NULL) {
    napi_delete_reference(p->env, p->callback);
    p->callback = NULL;
  }
  if (p->context != NULL) {
    napi_async_destroy(p->env, p->context);
    p->context = NULL;
  }
}

static void poller_begin_close(poller_t *p) {
  if (p->closing) return;
  p->closing = 1;
  if (p->active) {
    uv_poll_stop(&p->handle);
    p->active = 0;
    if (p->self != NULL) napi_reference_unref(p->env, p->self, NULL);
  }
  uv_close((uv_handle_t *)&p->handle, poller_on_close);
}

static void poller_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  poller_t *p = (poller_t *)data;
  poller_release_js(p);
  if (p->self != NULL) {
    napi_delete_reference(env, p->self);
    p->self = NULL;
  }
  p->finalized = 1;
  if (!p->closing) {
    /* Only reachable at environment teardown: an active poller holds a strong reference. */
    p->closing = 1;
    if (p->active) uv_poll_stop(&p->handle);
    p->active = 0;
    uv_close((uv_handle_t *)&p->handle, poller_on_close);
  } else if (p->released) {
    free(p);
  }
}

static void poller_on_event(uv_poll_t *handle, int status, int events) {
  poller_t *p = (poller_t *)handle->data;
  napi_env env = p->env;
  napi_handle_scope scope;
  napi_value callback, receiver, argv[2], result;
  napi_status rc;
  if (p->closing || p->callback == NULL) return;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  if (napi_get_reference_value(env, p->callback, &callback) == napi_ok && callback != NULL) {
    receiver = NULL;
    if (p->self != NULL) napi_get_reference_value(env, p->self, &receiver);
    if (receiver == NULL) napi_get_undefined(env, &receiver);
    napi_create_int32(env, status, &argv[0]);
    napi_create_int32(env, events, &argv[1]);
    rc = napi_make_callback(env, p->context, receiver, callback, 2, argv, &result);
    if (rc == napi_pending_exception) {
      napi_value exception;
      napi_get_and_clear_last_exception(env, &exception);
      napi_fatal_exception(env, exception);
    }
  }
  napi_close_handle_scope(env, scope);
}

static poller_t *unwrap_poller(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  napi_value self;
  size_t argc = want;
  void *data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok) return NULL;
  if (argc < want) {
    napi_throw_type_error(env, "VSOCK_ADDON_ARGS", "missing arguments");
    return NULL;
  }
  if (napi_unwrap(env, self, &data) != napi_ok || data == NULL) {
    napi_throw_error(env, "VSOCK_ADDON", "not a Poller");
    return NULL;
  }
  return (poller_t *)data;
}

/* new Poller(fd, callback(status, events)) */
static napi_value poller_construct(napi_env env, napi_callback_info info) {
  napi_value argv[2], self, name;
  size_t argc = 2;
  int32_t fd;
  napi_valuetype type;
  uv_loop_t *loop;
  poller_t *p;
  int rc;
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  if (argc < 2 || !get_int32_arg(env, argv[0], &fd)) {
    if (argc < 2) napi_throw_type_error(env, "VSOCK_ADDON_ARGS", "missing arguments");
    return NULL;
  }
  if (napi_typeof(env, argv[1], &type) != napi_ok || type != napi_function) {
    napi_throw_type_error(env, "VSOCK_ADDON_ARGS", "expected a callback");
    return NULL;
  }
  CHECK_NAPI(env, napi_get_uv_event_loop(env, (struct uv_loop_s **)&loop));
  p = (poller_t *)calloc(1, sizeof *p);
  if (p == NULL) return throw_errno(env, "calloc", ENOMEM);
  p->env = env;
  rc = uv_poll_init(loop, &p->handle, fd);
  if (rc != 0) {
    free(p);
    return throw_errno(env, "uv_poll_init", -rc);
  }
  p->handle.data = p;
  napi_create_reference(env, argv[1], 1, &p->callback);
  napi_create_string_utf8(env, "attested-pack:vsock-poll", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, self, name, &p->context);
  if (napi_wrap(env, self, p, poller_finalize, NULL, &p->self) != napi_ok) {
    poller_release_js(p);
    p->finalized = 1;
    p->closing = 1;
    uv_close((uv_handle_t *)&p->handle, poller_on_close);
    napi_throw_error(env, "VSOCK_ADDON", "cannot wrap Poller");
    return NULL;
  }
  return self;
}

/* poller.start(events): events is a mask of 1 (readable) and 2 (writable); 0 stops. */
static napi_value poller_start(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t events;
  int rc;
  poller_t *p = unwrap_poller(env, info, 1, argv);
  if (p == NULL || !get_int32_arg(env, argv[0], &events)) return NULL;
  if (p->closing) {
    napi_throw_error(env, "VSOCK_ADDON", "Poller is closed");
    return NULL;
  }
  events &= UV_READABLE | UV_WRITABLE;
  if (events == 0) {
    if (p->active) {
      uv_poll_stop(&p->handle);
      p->active = 0;
      napi_reference_unref(env, p->self, NULL);
    }
    return NULL;
  }
  rc = uv_poll_start(&p->handle, events, poller_on_event);
  if (rc != 0) return throw_errno(env, "uv_poll_start", -rc);
  if (!p->active) {
    p->active = 1;
    napi_reference_ref(env, p->self, NULL);
  }
  return NULL;
}

/* poller.close(): stops polling for good; the descriptor may be closed right after. */
static napi_value poller_close(napi_env env, napi_callback_info info) {
  poller_t *p = unwrap_poller(env, info, 0, NULL);
  if (p == NULL) return NULL;
  if (!p->closing) {
    poller_begin_close(p);
    poller_release_js(p);
  }
  return NULL;
}

/* ---- NSM raw ioctl ------------------------------------------------------------------------- */

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int fd;
  uint8_t request[AP_NSM_REQUEST_MAX];
  size_t request_len;
  uint8_t response[AP_NSM_RESPONSE_MAX];
  size_t response_len;
  int err;
} nsm_job_t;

/* nsmOpen() -> fd of /dev/nsm */
static napi_value js_nsm_open(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = open("/dev/nsm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "open /dev/nsm", errno);
  return make_int(env, fd);
}

static void nsm_execute(napi_env env, void *data) {
  (void)env;
  nsm_job_t *job = (nsm_job_t *)data;
  struct ap_nsm_raw raw;
  int rc;
  raw.request.addr = (uint64_t)(uintptr_t)job->request;
  raw.request.len = job->request_len;
  raw.response.addr = (uint64_t)(uintptr_t)job->response;
  raw.response.len = sizeof job->response;
  do {
    rc = ioctl(job->fd, AP_NSM_IOCTL_RAW, &raw);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    job->err = errno;
    return;
  }
  job->err = 0;
  job->response_len = raw.response.len > sizeof job->response ? sizeof job->response
                                                               : (size_t)raw.response.len;
}

static void nsm_complete(napi_env env, napi_status status, void *data) {
  nsm_job_t *job = (nsm_job_t *)data;
  napi_value value;
  if (status != napi_ok) {
    napi_value message;
    napi_create_string_utf8(env, "NSM request cancelled", NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &value);
    napi_reject_deferred(env, job->deferred, value);
  } else if (job->err != 0) {
    napi_reject_deferred(env, job->deferred, make_errno_error(env, "ioctl NSM_IOCTL_RAW", job->err));
  } else {
    void *copy;
    if (napi_create_buffer_copy(env, job->response_len, job->response, &copy, &value) == napi_ok)
      napi_resolve_deferred(env, job->deferred, value);
    else
      napi_reject_deferred(env, job->deferred, make_errno_error(env, "napi_create_buffer_copy", ENOMEM));
  }
  napi_delete_async_work(env, job->work);
  /* Requests and responses may carry user data and nonces: leave nothing behind. */
  memset(job, 0, sizeof *job);
  free(job);
}

/* nsmRequest(fd, cborRequest) -> Promise<Buffer> of the CBOR response. */
static napi_value js_nsm_request(napi_env env, napi_callback_info info) {
  napi_value argv[2], promise, name;
  int32_t fd;
  uint8_t *data;
  size_t len;
  nsm_job_t *job;
  if (!get_args(env, info, 2, argv) || !get_int32_arg(env, argv[0], &fd) ||
      !get_bytes_arg(env, argv[1], &data, &len))
    return NULL;
  if (len > AP_NSM_REQUEST_MAX) return throw_errno(env, "ioctl NSM_IOCTL_RAW", EMSGSIZE);
  job = (nsm_job_t *)calloc(1, sizeof *job);
  if (job == NULL) return throw_errno(env, "calloc", ENOMEM);
  job->fd = fd;
  memcpy(job->request, data, len);
  job->request_len = len;
  CHECK_NAPI(env, napi_create_promise(env, &job->deferred, &promise));
  napi_create_string_utf8(env, "attested-pack:nsm-request", NAPI_AUTO_LENGTH, &name);
  if (napi_create_async_work(env, NULL, name, nsm_execute, nsm_complete, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    napi_reject_deferred(env, job->deferred, make_errno_error(env, "napi_queue_async_work", EAGAIN));
    free(job);
  }
  return promise;
}

/* ---- module -------------------------------------------------------------------------------- */

static void set_uint(napi_env env, napi_value target, const char *name, uint32_t v) {
  napi_value value;
  napi_create_uint32(env, v, &value);
  napi_set_named_property(env, target, name, value);
}

/* aes_gcm.c: adds aesGcmOpenBatch when the process has OpenSSL's EVP functions; 0 on an N-API failure. */
int ap_register_aes_gcm(napi_env env, napi_value exports);

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor functions[] = {
      {"socket", NULL, js_socket, NULL, NULL, NULL, napi_enumerable, NULL},
      {"bind", NULL, js_bind, NULL, NULL, NULL, napi_enumerable, NULL},
      {"listen", NULL, js_listen, NULL, NULL, NULL, napi_enumerable, NULL},
      {"connect", NULL, js_connect, NULL, NULL, NULL, napi_enumerable, NULL},
      {"socketError", NULL, js_socket_error, NULL, NULL, NULL, napi_enumerable, NULL},
      {"accept", NULL, js_accept, NULL, NULL, NULL, napi_enumerable, NULL},
      {"read", NULL, js_read, NULL, NULL, NULL, napi_enumerable, NULL},
      {"write", NULL, js_write, NULL, NULL, NULL, napi_enumerable, NULL},
      {"shutdown", NULL, js_shutdown, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"localAddress", NULL, js_local_address, NULL, NULL, NULL, napi_enumerable, NULL},
      {"remoteAddress", NULL, js_remote_address, NULL, NULL, NULL, napi_enumerable, NULL},
      {"localCid", NULL, js_local_cid, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unixSocketPair", NULL, js_unix_socket_pair, NULL, NULL, NULL, napi_enumerable, NULL},
      {"nsmOpen", NULL, js_nsm_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"nsmRequest", NULL, js_nsm_request, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_property_descriptor poller_methods[] = {
      {"start", NULL, poller_start, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, poller_close, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_value poller_class;
  CHECK_NAPI(env, napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions));
  CHECK_NAPI(env, napi_define_class(env, "Poller", NAPI_AUTO_LENGTH, poller_construct, NULL,
                                    sizeof poller_methods / sizeof poller_methods[0], poller_methods,
                                    &poller_class));
  CHECK_NAPI(env, napi_set_named_property(env, exports, "Poller", poller_class));
  if (!ap_register_aes_gcm(env, exports)) {
    napi_throw_error(env, "VSOCK_ADDON", "registering aesGcmOpenBatch failed");
    return NULL;
  }
  set_uint(env, exports, "ABI_VERSION", 2);
  set_uint(env, exports, "VMADDR_CID_ANY", VMADDR_CID_ANY);
  set_uint(env, exports, "VMADDR_PORT_ANY", VMADDR_PORT_ANY);
  set_uint(env, exports, "VMADDR_CID_LOCAL", 1);
  set_uint(env, exports, "VMADDR_CID_HOST", VMADDR_CID_HOST);
  set_uint(env, exports, "POLL_READABLE", UV_READABLE);
  set_uint(env, exports, "POLL_WRITABLE", UV_WRITABLE);
  set_uint(env, exports, "NSM_IOCTL_RAW", (uint32_t)AP_NSM_IOCTL_RAW);
  set_uint(env, exports, "NSM_REQUEST_MAX", AP_NSM_REQUEST_MAX);
  set_uint(env, exports, "NSM_RESPONSE_MAX", AP_NSM_RESPONSE_MAX);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
