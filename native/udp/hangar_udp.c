// hangar_udp: an IPv4 UDP socket for Node that reports, for each datagram, the interface it arrived on and the
// address it was sent to (IP_PKTINFO), and can choose the interface and source address of a reply. Node's dgram
// drops control messages, and a DHCP server answering 255.255.255.255 needs both.
//
// Exports: open, sendBatch, close, ref, unref, interfaceIndex. A socket is an external tagged with a type tag; it
// lives until close() (a strong reference keeps it, like dgram), then until both the libuv handle has closed and the
// external has been collected.
//
// Both directions move batches, so a busy server makes few system calls and few Node-API calls: a wakeup's datagrams
// reach JavaScript in two arrays it lent at open() (payloads back to back, and metadata), with one call, and
// replies leave in one sendmmsg. Nothing is allocated per datagram.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

enum {
  BATCH = 64,             // datagrams per recvmmsg and per sendmmsg call
  MAX_PER_WAKEUP = 1024,  // then yield to the rest of the event loop; level-triggered polling brings us back
  SLOT_BYTES = 65536,     // larger than any IPv4 UDP payload, so nothing is truncated
  // Per received datagram, in the metadata array: offset and length in the payloads array, interface index,
  // source address, source port, destination address (addresses as host-order integers).
  METADATA_FIELDS = 6,
  TARGET_FIELDS = 4,  // per datagram to send: address, port, interface index, source address
};

typedef union {
  struct cmsghdr align;
  char bytes[CMSG_SPACE(sizeof(struct in_pktinfo))];
} pktinfo_control;

typedef struct {
  uv_poll_t poll;
  int fd;
  bool poll_initialized;
  bool closing;        // close begun: polling stopped, fd closed, JS references released
  bool handle_closed;  // libuv's close callback has run (or the poll handle was never initialised)
  bool finalized;      // no JS external points here any more (or none was ever created)
  napi_env env;
  napi_ref self;  // strong while open: an open socket stays reachable, as a dgram socket does
  napi_ref on_datagrams;
  napi_ref on_error;
  // Lent by JavaScript at open() and written before each onDatagrams call, which reads them before returning.
  napi_ref metadata_ref;
  uint32_t *metadata;
  uint32_t max_per_call;  // datagrams the metadata array holds
  napi_ref payloads_ref;
  unsigned char *payloads;
  size_t payloads_capacity;  // at least SLOT_BYTES, so any datagram fits
  napi_async_context async_context;
  napi_async_cleanup_hook_handle cleanup_hook;
  struct mmsghdr messages[BATCH];
  struct iovec iovecs[BATCH];
  struct sockaddr_in sources[BATCH];
  pktinfo_control controls[BATCH];
  unsigned char *slots;  // BATCH * SLOT_BYTES
} hangar_socket;

static const napi_type_tag socket_tag = {0x6b1f2a0c9d4e4f11ULL, 0x8a3c5e7f90b2d461ULL};

// ---- errors ------------------------------------------------------------------------------------------------

// Throws the last Node-API error unless an exception is already pending. The error info must be read first:
// napi_is_exception_pending resets it.
static void throw_napi_error(napi_env env) {
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  const char *message = info != NULL && info->error_message != NULL ? info->error_message : "Node-API call failed";
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, NULL, message);
}

#define NAPI_CALL(env, call)       \
  do {                             \
    if ((call) != napi_ok) {       \
      throw_napi_error(env);       \
      return NULL;                 \
    }                              \
  } while (0)

static void set_string_property(napi_env env, napi_value object, const char *name, const char *text) {
  napi_value value;
  if (napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &value) == napi_ok)
    napi_set_named_property(env, object, name, value);
}

// An Error shaped like Node's system errors: message "SYSCALL CODE: text[ DETAIL]", code, errno (negative),
// syscall. Returns NULL if even that could not be built.
static napi_value system_error(napi_env env, const char *syscall, int err, const char *detail) {
  const char *code = uv_err_name(-err);
  char text[256];
  snprintf(text, sizeof text, "%s %s: %s%s%s", syscall, code, uv_strerror(-err), detail ? " " : "", detail ? detail : "");
  napi_value message, error, errno_value;
  if (napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message) != napi_ok) return NULL;
  if (napi_create_error(env, NULL, message, &error) != napi_ok) return NULL;
  set_string_property(env, error, "code", code);
  set_string_property(env, error, "syscall", syscall);
  if (napi_create_int32(env, -err, &errno_value) == napi_ok) napi_set_named_property(env, error, "errno", errno_value);
  return error;
}

static void throw_system_error(napi_env env, const char *syscall, int err, const char *detail) {
  napi_value error = system_error(env, syscall, err, detail);
  if (error != NULL) napi_throw(env, error);
  else throw_napi_error(env);
}

// ---- arguments ---------------------------------------------------------------------------------------------

static bool get_uint32_arg(napi_env env, napi_value value, const char *name, uint32_t max, uint32_t *out) {
  napi_valuetype type;
  double number;
  if (napi_typeof(env, value, &type) != napi_ok) return throw_napi_error(env), false;
  if (type != napi_number || napi_get_value_double(env, value, &number) != napi_ok || !(number >= 0 && number <= max) ||
      number != (double)(uint32_t)number) {
    char message[96];
    snprintf(message, sizeof message, "%s must be an integer from 0 to %u", name, max);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
    return false;
  }
  *out = (uint32_t)number;
  return true;
}

static bool get_function_arg(napi_env env, napi_value value, const char *name) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok) return throw_napi_error(env), false;
  if (type == napi_function) return true;
  char message[96];
  snprintf(message, sizeof message, "%s must be a function", name);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
  return false;
}

// A typed array's elements, which stay where they are while a reference keeps the array: it cannot be detached
// unless transferred, and the wrapper never hands it out.
static bool get_typed_array_arg(napi_env env, napi_value value, const char *name, napi_typedarray_type wanted,
                                void **data, size_t *length) {
  bool is_typedarray = false;
  napi_typedarray_type type;
  if (napi_is_typedarray(env, value, &is_typedarray) != napi_ok) return throw_napi_error(env), false;
  if (is_typedarray && napi_get_typedarray_info(env, value, &type, length, data, NULL, NULL) != napi_ok)
    return throw_napi_error(env), false;
  if (!is_typedarray || type != wanted) {
    char message[96];
    snprintf(message, sizeof message, "%s must be a %s", name, wanted == napi_uint8_array ? "Uint8Array" : "Uint32Array");
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
    return false;
  }
  return true;
}

static hangar_socket *get_socket_arg(napi_env env, napi_value value) {
  napi_valuetype type;
  bool tagged = false;
  void *data = NULL;
  if (napi_typeof(env, value, &type) != napi_ok) return throw_napi_error(env), NULL;
  if (type != napi_external || napi_check_object_type_tag(env, value, &socket_tag, &tagged) != napi_ok || !tagged) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "not a hangar_udp socket handle");
    return NULL;
  }
  if (napi_get_value_external(env, value, &data) != napi_ok) return throw_napi_error(env), NULL;
  return data;
}

// ---- lifetime ----------------------------------------------------------------------------------------------

static void free_if_unused(hangar_socket *s) {
  if (!s->handle_closed || !s->finalized) return;
  free(s->slots);
  free(s);
}

static void release_js(hangar_socket *s) {
  if (s->self != NULL) napi_delete_reference(s->env, s->self);
  if (s->on_datagrams != NULL) napi_delete_reference(s->env, s->on_datagrams);
  if (s->on_error != NULL) napi_delete_reference(s->env, s->on_error);
  if (s->metadata_ref != NULL) napi_delete_reference(s->env, s->metadata_ref);
  if (s->payloads_ref != NULL) napi_delete_reference(s->env, s->payloads_ref);
  if (s->async_context != NULL) napi_async_destroy(s->env, s->async_context);
  s->self = s->on_datagrams = s->on_error = s->metadata_ref = s->payloads_ref = NULL;
  s->metadata = NULL;
  s->payloads = NULL;
  s->async_context = NULL;
}

static void on_poll_closed(uv_handle_t *handle) {
  hangar_socket *s = handle->data;
  s->handle_closed = true;
  // Removing the hook tells an exiting environment (a worker, or the main thread's teardown) we are done.
  if (s->cleanup_hook != NULL) napi_remove_async_cleanup_hook(s->cleanup_hook);
  s->cleanup_hook = NULL;
  free_if_unused(s);
}

// Idempotent. libuv allows closing the fd once polling has stopped; the handle's memory is freed only after its
// close callback has run.
static void begin_close(hangar_socket *s) {
  if (s->closing) return;
  s->closing = true;
  release_js(s);
  if (s->poll_initialized) {
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_poll_closed);
  } else {
    s->handle_closed = true;
    if (s->cleanup_hook != NULL) napi_remove_async_cleanup_hook(s->cleanup_hook);
    s->cleanup_hook = NULL;
  }
  if (s->fd >= 0) close(s->fd);
  s->fd = -1;
}

static void on_environment_teardown(napi_async_cleanup_hook_handle handle, void *data) {
  (void)handle;
  begin_close(data);
}

static void on_external_finalized(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  hangar_socket *s = data;
  s->finalized = true;
  begin_close(s);  // only does something if the environment is being torn down with the socket still open
  free_if_unused(s);
}

// ---- receiving ---------------------------------------------------------------------------------------------

// Hands an uncaught exception from a callback to Node's uncaughtException handling, as dgram's 'message' would.
static void rethrow_pending(napi_env env, napi_status status) {
  if (status == napi_ok) return;
  napi_value exception;
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception(env, &exception) == napi_ok)
    napi_fatal_exception(env, exception);
}

static void call_back(hangar_socket *s, napi_ref callback, size_t argc, napi_value *argv) {
  napi_env env = s->env;
  napi_value function, receiver;
  if (callback == NULL || napi_get_reference_value(env, callback, &function) != napi_ok || function == NULL) return;
  if (napi_get_global(env, &receiver) != napi_ok) return;  // napi_make_callback needs an object receiver
  rethrow_pending(env, napi_make_callback(env, s->async_context, receiver, function, argc, argv, NULL));
}

static void report_error(hangar_socket *s, const char *syscall, int err) {
  napi_value error = system_error(s->env, syscall, err, NULL);
  if (error != NULL) call_back(s, s->on_error, 1, &error);
}

// One recvmmsg call for at most `wanted` datagrams; returns its result (errno set when negative).
static int receive_batch(hangar_socket *s, unsigned wanted) {
  for (unsigned i = 0; i < wanted; i++) {
    struct msghdr *h = &s->messages[i].msg_hdr;
    // The kernel rewrites these lengths on every call.
    h->msg_name = &s->sources[i];
    h->msg_namelen = sizeof s->sources[i];
    h->msg_iov = &s->iovecs[i];
    h->msg_iovlen = 1;
    h->msg_control = s->controls[i].bytes;
    h->msg_controllen = sizeof s->controls[i].bytes;
    h->msg_flags = 0;
  }
  int received;
  do received = recvmmsg(s->fd, s->messages, wanted, MSG_DONTWAIT, NULL);
  while (received < 0 && errno == EINTR);
  return received;
}

// Copies message i of the last recvmmsg to the payloads array at `*used`, and its metadata as datagram `index`.
static void stage_datagram(hangar_socket *s, unsigned i, uint32_t index, size_t *used) {
  struct mmsghdr *m = &s->messages[i];
  memcpy(s->payloads + *used, s->iovecs[i].iov_base, m->msg_len);
  struct in_pktinfo info = {0};
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&m->msg_hdr); c != NULL; c = CMSG_NXTHDR(&m->msg_hdr, c))
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) memcpy(&info, CMSG_DATA(c), sizeof info);
  uint32_t *fields = s->metadata + (size_t)index * METADATA_FIELDS;
  fields[0] = (uint32_t)*used;
  fields[1] = m->msg_len;
  fields[2] = (uint32_t)info.ipi_ifindex;
  fields[3] = ntohl(s->sources[i].sin_addr.s_addr);
  fields[4] = ntohs(s->sources[i].sin_port);
  fields[5] = ntohl(info.ipi_addr.s_addr);
  *used += m->msg_len;
}

// onDatagrams(count) for the staged datagrams.
static void deliver(hangar_socket *s, uint32_t count) {
  napi_value argument;
  napi_status status = napi_create_uint32(s->env, count, &argument);
  if (status != napi_ok) rethrow_pending(s->env, status);
  else call_back(s, s->on_datagrams, 1, &argument);
}

// Reads what is queued, up to MAX_PER_WAKEUP datagrams, and hands it to onDatagrams: once, unless the arrays lent
// at open() fill up first.
static void on_readable(uv_poll_t *poll, int status, int events) {
  (void)events;
  hangar_socket *s = poll->data;
  napi_env env = s->env;
  napi_handle_scope scope;
  if (s->closing || napi_open_handle_scope(env, &scope) != napi_ok) return;

  if (status < 0) {
    // Not expected for a UDP socket; stop rather than spin, and let the owner decide.
    uv_poll_stop(poll);
    report_error(s, "poll", -status);
    napi_close_handle_scope(env, scope);
    return;
  }

  uint32_t total = 0, staged = 0;
  size_t used = 0;
  int receive_errno = 0;
  while (total < MAX_PER_WAKEUP && !s->closing) {
    unsigned wanted = MAX_PER_WAKEUP - total < BATCH ? MAX_PER_WAKEUP - total : BATCH;
    int received = receive_batch(s, wanted);
    if (received < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) receive_errno = errno;
      break;
    }
    for (int i = 0; i < received && !s->closing; i++) {
      if (staged == s->max_per_call || used + s->messages[i].msg_len > s->payloads_capacity) {
        deliver(s, staged);  // may close the socket: the rest of the batch is then dropped
        staged = 0;
        used = 0;
        if (s->closing) break;
      }
      stage_datagram(s, (unsigned)i, staged++, &used);
    }
    total += (uint32_t)received;
    if ((unsigned)received < wanted) break;  // the queue is (very likely) empty; polling tells us when it is not
  }
  if (staged > 0 && !s->closing) deliver(s, staged);
  if (receive_errno != 0 && !s->closing) report_error(s, "recvmmsg", receive_errno);
  napi_close_handle_scope(env, scope);
}

// ---- exports -----------------------------------------------------------------------------------------------

// Larger buffers than net.core.{r,w}mem_max need CAP_NET_ADMIN (the *FORCE options); without it, take the cap.
static int set_buffer_size(int fd, int forced_option, int option, uint32_t bytes) {
  if (bytes == 0) return 0;
  int value = bytes > INT32_MAX ? INT32_MAX : (int)bytes;
  if (setsockopt(fd, SOL_SOCKET, forced_option, &value, sizeof value) == 0) return 0;
  return setsockopt(fd, SOL_SOCKET, option, &value, sizeof value);
}

// Creates, configures and binds the socket; returns the fd or -1 with errno set and *syscall naming the failure.
static int open_bound_socket(struct in_addr address, uint16_t port, uint32_t receive_bytes, uint32_t send_bytes,
                             uint16_t *bound_port, const char **syscall) {
  int one = 1;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return *syscall = "socket", -1;
  struct sockaddr_in local = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = address};
  socklen_t local_length = sizeof local;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) *syscall = "setsockopt(SO_REUSEADDR)";
  else if (setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one) != 0) *syscall = "setsockopt(SO_BROADCAST)";
  else if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) != 0) *syscall = "setsockopt(IP_PKTINFO)";
  else if (set_buffer_size(fd, SO_RCVBUFFORCE, SO_RCVBUF, receive_bytes) != 0) *syscall = "setsockopt(SO_RCVBUF)";
  else if (set_buffer_size(fd, SO_SNDBUFFORCE, SO_SNDBUF, send_bytes) != 0) *syscall = "setsockopt(SO_SNDBUF)";
  else if (bind(fd, (struct sockaddr *)&local, sizeof local) != 0) *syscall = "bind";
  else if (getsockname(fd, (struct sockaddr *)&local, &local_length) != 0) *syscall = "getsockname";
  else {
    *bound_port = ntohs(local.sin_port);
    return fd;
  }
  int saved = errno;
  close(fd);
  errno = saved;
  return -1;
}

// open(port, bindAddress (a host-order integer), receiveBufferBytes, sendBufferBytes, payloads, metadata,
//      onDatagrams(count), onError(error)) -> {handle, port}
// payloads (a Uint8Array of at least SLOT_BYTES) and metadata (a Uint32Array, METADATA_FIELDS per datagram) are
// lent for the socket's life: each onDatagrams call finds its datagrams there and must copy what it keeps.
static napi_value socket_open(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 8) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "open(port, address, rcvbuf, sndbuf, payloads, metadata, onDatagrams, onError)");
    return NULL;
  }
  uint32_t port, bind_address, receive_bytes, send_bytes;
  unsigned char *payloads = NULL;
  uint32_t *metadata = NULL;
  size_t payloads_length = 0, metadata_length = 0;
  if (!get_uint32_arg(env, argv[0], "port", 65535, &port) ||
      !get_uint32_arg(env, argv[1], "address", UINT32_MAX, &bind_address) ||
      !get_uint32_arg(env, argv[2], "receiveBufferBytes", INT32_MAX, &receive_bytes) ||
      !get_uint32_arg(env, argv[3], "sendBufferBytes", INT32_MAX, &send_bytes) ||
      !get_typed_array_arg(env, argv[4], "payloads", napi_uint8_array, (void **)&payloads, &payloads_length) ||
      !get_typed_array_arg(env, argv[5], "metadata", napi_uint32_array, (void **)&metadata, &metadata_length) ||
      !get_function_arg(env, argv[6], "onDatagrams") || !get_function_arg(env, argv[7], "onError"))
    return NULL;
  if (payloads_length < SLOT_BYTES || metadata_length < METADATA_FIELDS) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "payloads must hold the largest datagram and metadata one datagram's fields");
    return NULL;
  }

  struct in_addr address = {.s_addr = htonl(bind_address)};
  uv_loop_t *loop;
  NAPI_CALL(env, napi_get_uv_event_loop(env, &loop));

  const char *syscall = NULL;
  uint16_t bound_port = 0;
  int fd = open_bound_socket(address, (uint16_t)port, receive_bytes, send_bytes, &bound_port, &syscall);
  if (fd < 0) {
    char detail[32];
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &address, text, sizeof text);
    snprintf(detail, sizeof detail, "%s:%u", text, port);
    throw_system_error(env, syscall, errno, detail);
    return NULL;
  }

  hangar_socket *s = calloc(1, sizeof *s);
  unsigned char *slots = malloc((size_t)BATCH * SLOT_BYTES);
  if (s == NULL || slots == NULL) {
    free(s);
    free(slots);
    close(fd);
    throw_system_error(env, "malloc", ENOMEM, NULL);
    return NULL;
  }
  s->fd = fd;
  s->env = env;
  s->slots = slots;
  s->payloads = payloads;
  s->payloads_capacity = payloads_length;
  s->metadata = metadata;
  s->max_per_call = (uint32_t)(metadata_length / METADATA_FIELDS);
  s->finalized = true;  // until an external owns it
  for (unsigned i = 0; i < BATCH; i++) {
    s->iovecs[i].iov_base = slots + (size_t)i * SLOT_BYTES;
    s->iovecs[i].iov_len = SLOT_BYTES;
  }

  // From here on every failure goes through begin_close, the same path as close().
  napi_value handle, name, result, port_value;
  int uv_status = 0;
  if (napi_create_external(env, s, on_external_finalized, NULL, &handle) != napi_ok) goto napi_failed;
  s->finalized = false;
  if (napi_type_tag_object(env, handle, &socket_tag) != napi_ok ||
      napi_create_reference(env, handle, 1, &s->self) != napi_ok ||
      napi_create_reference(env, argv[4], 1, &s->payloads_ref) != napi_ok ||
      napi_create_reference(env, argv[5], 1, &s->metadata_ref) != napi_ok ||
      napi_create_reference(env, argv[6], 1, &s->on_datagrams) != napi_ok ||
      napi_create_reference(env, argv[7], 1, &s->on_error) != napi_ok ||
      napi_create_string_utf8(env, "HangarUdpSocket", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, handle, name, &s->async_context) != napi_ok ||
      napi_add_async_cleanup_hook(env, on_environment_teardown, s, &s->cleanup_hook) != napi_ok)
    goto napi_failed;
  if ((uv_status = uv_poll_init_socket(loop, &s->poll, fd)) != 0) goto uv_failed;
  s->poll.data = s;
  s->poll_initialized = true;
  if ((uv_status = uv_poll_start(&s->poll, UV_READABLE, on_readable)) != 0) goto uv_failed;
  if (napi_create_object(env, &result) != napi_ok || napi_create_uint32(env, bound_port, &port_value) != napi_ok ||
      napi_set_named_property(env, result, "handle", handle) != napi_ok ||
      napi_set_named_property(env, result, "port", port_value) != napi_ok)
    goto napi_failed;
  return result;

napi_failed:
  throw_napi_error(env);
  begin_close(s);
  free_if_unused(s);
  return NULL;
uv_failed:
  throw_system_error(env, "uv_poll", -uv_status, NULL);
  begin_close(s);
  free_if_unused(s);
  return NULL;
}

// Pushes a datagram that was not sent onto `failures`: its index, then null when the kernel's buffers were full
// (EAGAIN, ENOBUFS: dropped, as a congested link would) or the Error otherwise.
static bool record_failure(napi_env env, napi_value failures, uint32_t *failure_count, uint32_t index, int err,
                           const uint32_t *target) {
  napi_value index_value, failure;
  if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
    if (napi_get_null(env, &failure) != napi_ok) return false;
  } else {
    char detail[48], text[INET_ADDRSTRLEN];
    struct in_addr address = {.s_addr = htonl(target[0])};
    inet_ntop(AF_INET, &address, text, sizeof text);
    snprintf(detail, sizeof detail, "%s:%u", text, target[1]);
    if ((failure = system_error(env, "sendmmsg", err, detail)) == NULL) return false;
  }
  return napi_create_uint32(env, index, &index_value) == napi_ok &&
         napi_set_element(env, failures, (*failure_count)++, index_value) == napi_ok &&
         napi_set_element(env, failures, (*failure_count)++, failure) == napi_ok;
}

// sendBatch(handle, datagrams: Uint8Array[], targets: Uint32Array, count, failures: []) -> how many were sent.
// targets holds TARGET_FIELDS per datagram: address, port, interface index and source address, addresses as
// host-order integers; an index of 0 and a source of 0 leave the choice to routing. The interface index picks the
// outgoing interface (also for 255.255.255.255), the source the source address (IP_PKTINFO). Datagrams go out in
// order, up to BATCH per sendmmsg; one that fails is recorded (record_failure) and the rest still go.
static napi_value socket_send_batch(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "sendBatch(handle, datagrams, targets, count, failures)");
    return NULL;
  }
  hangar_socket *s = get_socket_arg(env, argv[0]);
  if (s == NULL) return NULL;
  if (s->closing) {
    napi_throw_error(env, "ERR_SOCKET_DGRAM_NOT_RUNNING", "send on a closed socket");
    return NULL;
  }
  bool datagrams_is_array = false, failures_is_array = false;
  uint32_t datagrams_length = 0, failure_count = 0, count = 0;
  uint32_t *targets = NULL;
  size_t targets_length = 0;
  NAPI_CALL(env, napi_is_array(env, argv[1], &datagrams_is_array));
  NAPI_CALL(env, napi_is_array(env, argv[4], &failures_is_array));
  if (!datagrams_is_array || !failures_is_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "datagrams and failures must be arrays");
    return NULL;
  }
  NAPI_CALL(env, napi_get_array_length(env, argv[1], &datagrams_length));
  NAPI_CALL(env, napi_get_array_length(env, argv[4], &failure_count));
  if (!get_typed_array_arg(env, argv[2], "targets", napi_uint32_array, (void **)&targets, &targets_length) ||
      !get_uint32_arg(env, argv[3], "count", datagrams_length, &count))
    return NULL;
  if ((size_t)count * TARGET_FIELDS > targets_length) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "targets is too short for count");
    return NULL;
  }

  struct mmsghdr messages[BATCH];
  struct iovec iovecs[BATCH];
  struct sockaddr_in destinations[BATCH];
  pktinfo_control controls[BATCH];
  uint32_t sent_total = 0;
  for (uint32_t first = 0; first < count; first += BATCH) {
    unsigned chunk = count - first < BATCH ? count - first : BATCH;
    for (unsigned k = 0; k < chunk; k++) {
      const uint32_t *target = targets + (size_t)(first + k) * TARGET_FIELDS;
      napi_value element;
      bool is_typedarray = false;
      napi_typedarray_type array_type;
      size_t length = 0;
      void *data = NULL;
      NAPI_CALL(env, napi_get_element(env, argv[1], first + k, &element));
      NAPI_CALL(env, napi_is_typedarray(env, element, &is_typedarray));
      if (is_typedarray) NAPI_CALL(env, napi_get_typedarray_info(env, element, &array_type, &length, &data, NULL, NULL));
      if (!is_typedarray || array_type != napi_uint8_array) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "data must be a Uint8Array or Buffer");
        return NULL;
      }
      destinations[k] = (struct sockaddr_in){
          .sin_family = AF_INET, .sin_port = htons((uint16_t)target[1]), .sin_addr = {.s_addr = htonl(target[0])}};
      iovecs[k] = (struct iovec){.iov_base = data, .iov_len = length};
      struct msghdr *h = &messages[k].msg_hdr;
      *h = (struct msghdr){.msg_name = &destinations[k], .msg_namelen = sizeof destinations[k], .msg_iov = &iovecs[k], .msg_iovlen = 1};
      if (target[2] != 0 || target[3] != 0) {
        memset(&controls[k], 0, sizeof controls[k]);
        h->msg_control = controls[k].bytes;
        h->msg_controllen = sizeof controls[k].bytes;
        struct cmsghdr *c = CMSG_FIRSTHDR(h);
        c->cmsg_level = IPPROTO_IP;
        c->cmsg_type = IP_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
        struct in_pktinfo pktinfo = {.ipi_ifindex = (int)target[2], .ipi_spec_dst = {.s_addr = htonl(target[3])}};
        memcpy(CMSG_DATA(c), &pktinfo, sizeof pktinfo);
      }
    }
    // sendmmsg stops at the first datagram that fails and reports those before it; the next call reports that one.
    for (unsigned done = 0; done < chunk;) {
      int sent = sendmmsg(s->fd, messages + done, chunk - done, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (sent < 0 && errno == EINTR) continue;
      if (sent > 0) {
        sent_total += (uint32_t)sent;
        done += (unsigned)sent;
        continue;
      }
      int err = sent < 0 ? errno : EAGAIN;
      uint32_t index = first + done;
      if (!record_failure(env, argv[4], &failure_count, index, err, targets + (size_t)index * TARGET_FIELDS)) {
        throw_napi_error(env);
        return NULL;
      }
      done++;
    }
  }
  napi_value result;
  NAPI_CALL(env, napi_create_uint32(env, sent_total, &result));
  return result;
}

static napi_value socket_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  hangar_socket *s = argc < 1 ? (napi_throw_type_error(env, "ERR_MISSING_ARGS", "close(handle)"), NULL)
                              : get_socket_arg(env, argv[0]);
  if (s == NULL) return NULL;
  begin_close(s);
  return NULL;
}

static napi_value set_loop_reference(napi_env env, napi_callback_info info, bool referenced) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  hangar_socket *s = argc < 1 ? (napi_throw_type_error(env, "ERR_MISSING_ARGS", "handle required"), NULL)
                              : get_socket_arg(env, argv[0]);
  if (s == NULL) return NULL;
  if (!s->closing) {
    if (referenced) uv_ref((uv_handle_t *)&s->poll);
    else uv_unref((uv_handle_t *)&s->poll);
  }
  return NULL;
}

static napi_value socket_ref(napi_env env, napi_callback_info info) { return set_loop_reference(env, info, true); }
static napi_value socket_unref(napi_env env, napi_callback_info info) { return set_loop_reference(env, info, false); }

static napi_value interface_index(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_valuetype type = napi_undefined;
  char name[IF_NAMESIZE + 1];
  size_t length = 0;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc >= 1) NAPI_CALL(env, napi_typeof(env, argv[0], &type));
  if (type != napi_string) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "interface name must be a string");
    return NULL;
  }
  NAPI_CALL(env, napi_get_value_string_utf8(env, argv[0], name, sizeof name, &length));
  unsigned index = length < IF_NAMESIZE ? if_nametoindex(name) : 0;
  if (index == 0) {
    char message[IF_NAMESIZE + 64];
    snprintf(message, sizeof message, "no network interface named \"%s%s\"", name, length < IF_NAMESIZE ? "" : "...");
    napi_throw_error(env, "ENODEV", message);
    return NULL;
  }
  napi_value result;
  NAPI_CALL(env, napi_create_uint32(env, index, &result));
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  const napi_property_descriptor functions[] = {
      {"open", NULL, socket_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendBatch", NULL, socket_send_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, socket_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ref", NULL, socket_ref, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unref", NULL, socket_unref, NULL, NULL, NULL, napi_enumerable, NULL},
      {"interfaceIndex", NULL, interface_index, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  NAPI_CALL(env, napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
