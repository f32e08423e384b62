// hangar_udp: an IPv4 UDP socket for Node that reports, for each datagram, the interface it arrived on and the
// address it was sent to (IP_PKTINFO), and can choose the interface and source address of a reply. Node's dgram
// drops control messages, and a DHCP server answering 255.255.255.255 needs both.
//
// Exports: open, send, close, ref, unref, interfaceIndex. A socket is an external tagged with a type tag; it lives
// until close() (a strong reference keeps it, like dgram), then until both the libuv handle has closed and the
// external has been collected.
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
  BATCH = 64,             // datagrams per recvmmsg call
  MAX_PER_WAKEUP = 1024,  // then yield to the rest of the event loop; level-triggered polling brings us back
  SLOT_BYTES = 65536,     // larger than any IPv4 UDP payload, so nothing is truncated
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

// Reads a dotted-quad IPv4 address. `optional` accepts undefined and null as "none" (*present = false).
static bool get_ipv4_arg(napi_env env, napi_value value, const char *name, bool optional, struct in_addr *out,
                         bool *present) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok) return throw_napi_error(env), false;
  if (optional && (type == napi_undefined || type == napi_null)) {
    *present = false;
    return true;
  }
  char text[INET_ADDRSTRLEN + 1];
  size_t length = 0;
  char message[160];
  if (type != napi_string) {
    snprintf(message, sizeof message, "%s must be an IPv4 address string", name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
    return false;
  }
  if (napi_get_value_string_utf8(env, value, text, sizeof text, &length) != napi_ok) return throw_napi_error(env), false;
  if (length >= INET_ADDRSTRLEN || inet_pton(AF_INET, text, out) != 1) {
    snprintf(message, sizeof message, "%s is not an IPv4 address: \"%s%s\"", name, text, length >= INET_ADDRSTRLEN ? "..." : "");
    napi_throw_type_error(env, "ERR_INVALID_IP_ADDRESS", message);
    return false;
  }
  if (present != NULL) *present = true;
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
  if (s->async_context != NULL) napi_async_destroy(s->env, s->async_context);
  s->self = s->on_datagrams = s->on_error = NULL;
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

static void call_back(hangar_socket *s, napi_ref callback, napi_value argument) {
  napi_env env = s->env;
  napi_value function, receiver;
  if (callback == NULL || napi_get_reference_value(env, callback, &function) != napi_ok || function == NULL) return;
  if (napi_get_global(env, &receiver) != napi_ok) return;  // napi_make_callback needs an object receiver
  rethrow_pending(env, napi_make_callback(env, s->async_context, receiver, function, 1, &argument, NULL));
}

static void report_error(hangar_socket *s, const char *syscall, int err) {
  napi_value error = system_error(s->env, syscall, err, NULL);
  if (error != NULL) call_back(s, s->on_error, error);
}

static napi_status ipv4_string(napi_env env, struct in_addr address, napi_value *out) {
  char text[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &address, text, sizeof text);
  return napi_create_string_latin1(env, text, NAPI_AUTO_LENGTH, out);
}

// {data, ifindex, source, sourcePort, destination} for message i of the last recvmmsg.
static napi_status datagram_object(hangar_socket *s, unsigned i, napi_value *out) {
  napi_env env = s->env;
  struct mmsghdr *m = &s->messages[i];
  struct in_pktinfo info = {0};
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&m->msg_hdr); c != NULL; c = CMSG_NXTHDR(&m->msg_hdr, c))
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) memcpy(&info, CMSG_DATA(c), sizeof info);

  napi_value data, ifindex, source, source_port, destination;
  napi_status status;
  if ((status = napi_create_buffer_copy(env, m->msg_len, s->iovecs[i].iov_base, NULL, &data)) != napi_ok ||
      (status = napi_create_uint32(env, (uint32_t)info.ipi_ifindex, &ifindex)) != napi_ok ||
      (status = ipv4_string(env, s->sources[i].sin_addr, &source)) != napi_ok ||
      (status = napi_create_uint32(env, ntohs(s->sources[i].sin_port), &source_port)) != napi_ok ||
      (status = ipv4_string(env, info.ipi_addr, &destination)) != napi_ok ||
      (status = napi_create_object(env, out)) != napi_ok)
    return status;
  const napi_property_descriptor properties[] = {
      {"data", NULL, NULL, NULL, NULL, data, napi_default_jsproperty, NULL},
      {"ifindex", NULL, NULL, NULL, NULL, ifindex, napi_default_jsproperty, NULL},
      {"source", NULL, NULL, NULL, NULL, source, napi_default_jsproperty, NULL},
      {"sourcePort", NULL, NULL, NULL, NULL, source_port, napi_default_jsproperty, NULL},
      {"destination", NULL, NULL, NULL, NULL, destination, napi_default_jsproperty, NULL},
  };
  return napi_define_properties(env, *out, sizeof properties / sizeof properties[0], properties);
}

// One recvmmsg call; returns its result (errno set when negative).
static int receive_batch(hangar_socket *s) {
  for (unsigned i = 0; i < BATCH; i++) {
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
  do received = recvmmsg(s->fd, s->messages, BATCH, MSG_DONTWAIT, NULL);
  while (received < 0 && errno == EINTR);
  return received;
}

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

  napi_value batch;
  uint32_t count = 0;
  int receive_errno = 0;
  napi_status napi_result = napi_create_array(env, &batch);
  while (napi_result == napi_ok && count < MAX_PER_WAKEUP) {
    int received = receive_batch(s);
    if (received < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) receive_errno = errno;
      break;
    }
    for (int i = 0; i < received && napi_result == napi_ok; i++) {
      napi_value datagram;
      napi_result = datagram_object(s, (unsigned)i, &datagram);
      if (napi_result == napi_ok) napi_result = napi_set_element(env, batch, count++, datagram);
    }
    if (received < BATCH) break;  // the queue is (very likely) empty; polling tells us when it is not
  }

  if (napi_result != napi_ok) {
    rethrow_pending(env, napi_result);
  } else if (count > 0) {
    call_back(s, s->on_datagrams, batch);
  }
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

// open(port, bindAddress, receiveBufferBytes, sendBufferBytes, onDatagrams(batch), onError(error))
//   -> {handle, port}
static napi_value socket_open(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "open(port, address, rcvbuf, sndbuf, onDatagrams, onError)");
    return NULL;
  }
  uint32_t port, receive_bytes, send_bytes;
  struct in_addr address;
  if (!get_uint32_arg(env, argv[0], "port", 65535, &port) ||
      !get_ipv4_arg(env, argv[1], "address", false, &address, NULL) ||
      !get_uint32_arg(env, argv[2], "receiveBufferBytes", INT32_MAX, &receive_bytes) ||
      !get_uint32_arg(env, argv[3], "sendBufferBytes", INT32_MAX, &send_bytes) ||
      !get_function_arg(env, argv[4], "onDatagrams") || !get_function_arg(env, argv[5], "onError"))
    return NULL;

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
      napi_create_reference(env, argv[4], 1, &s->on_datagrams) != napi_ok ||
      napi_create_reference(env, argv[5], 1, &s->on_error) != napi_ok ||
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

// send(handle, data: Uint8Array, address, port, ifindex (0: routing decides), source (null: routing decides))
//   -> bytes sent, or -1 when the kernel's buffers are full and the datagram was dropped
static napi_value socket_send(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "send(handle, data, address, port, ifindex, source)");
    return NULL;
  }
  hangar_socket *s = get_socket_arg(env, argv[0]);
  if (s == NULL) return NULL;
  if (s->closing) {
    napi_throw_error(env, "ERR_SOCKET_DGRAM_NOT_RUNNING", "send on a closed socket");
    return NULL;
  }

  bool is_typedarray = false;
  napi_typedarray_type array_type;
  size_t length = 0;
  void *data = NULL;
  NAPI_CALL(env, napi_is_typedarray(env, argv[1], &is_typedarray));
  if (is_typedarray) NAPI_CALL(env, napi_get_typedarray_info(env, argv[1], &array_type, &length, &data, NULL, NULL));
  if (!is_typedarray || array_type != napi_uint8_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "data must be a Uint8Array or Buffer");
    return NULL;
  }
  struct in_addr address, source = {0};
  uint32_t port, ifindex = 0;
  bool has_source = false;
  if (!get_ipv4_arg(env, argv[2], "address", false, &address, NULL) ||
      !get_uint32_arg(env, argv[3], "port", 65535, &port))
    return NULL;
  if (argc > 4 && !get_uint32_arg(env, argv[4], "ifindex", INT32_MAX, &ifindex)) return NULL;
  if (argc > 5 && !get_ipv4_arg(env, argv[5], "source", true, &source, &has_source)) return NULL;

  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = address};
  struct iovec iov = {.iov_base = data, .iov_len = length};
  struct msghdr message = {.msg_name = &to, .msg_namelen = sizeof to, .msg_iov = &iov, .msg_iovlen = 1};
  pktinfo_control control;
  if (ifindex != 0 || has_source) {
    // ipi_ifindex picks the outgoing interface (also for 255.255.255.255); ipi_spec_dst the source address.
    memset(&control, 0, sizeof control);
    message.msg_control = control.bytes;
    message.msg_controllen = sizeof control.bytes;
    struct cmsghdr *c = CMSG_FIRSTHDR(&message);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
    struct in_pktinfo pktinfo = {.ipi_ifindex = (int)ifindex, .ipi_spec_dst = source};
    memcpy(CMSG_DATA(c), &pktinfo, sizeof pktinfo);
  }

  ssize_t sent;
  do sent = sendmsg(s->fd, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (sent < 0 && errno == EINTR);
  // A full socket buffer (EAGAIN) or device queue (ENOBUFS) drops this datagram only: the caller counts it.
  if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
    char detail[48], text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &address, text, sizeof text);
    snprintf(detail, sizeof detail, "%s:%u", text, port);
    throw_system_error(env, "sendmsg", errno, detail);
    return NULL;
  }
  napi_value result;
  NAPI_CALL(env, napi_create_int32(env, sent < 0 ? -1 : (int32_t)sent, &result));
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
      {"send", NULL, socket_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, socket_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ref", NULL, socket_ref, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unref", NULL, socket_unref, NULL, NULL, NULL, napi_enumerable, NULL},
      {"interfaceIndex", NULL, interface_index, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  NAPI_CALL(env, napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
