// wq-spawn: start the command with posix_spawn and learn its exit through a pidfd.
//
// Why: node:child_process (libuv 1.46) starts a child with fork(), which copies the page tables of a
// ~50 MB Node process on every message; in a drain that was most of wq-consume's CPU (bench/README.md).
// glibc's posix_spawn uses clone(CLONE_VM | CLONE_VFORK): nothing is copied, whatever the parent's size.
// The child's exit is watched with a pidfd (Linux >= 5.3) polled by Node's own event loop, and reaped with
// waitpid on that pid only, so it never races libuv, which also reaps only the pids it started.
//
// One function, spawn(path, argv, envp, body, onExit):
//   - path: the resolved executable (command.ts); argv[0] is the name as the user gave it;
//   - the child gets a fresh pipe as stdin, and the parent's stdout and stderr (their FD_CLOEXEC,
//     which Node sets, is cleared in the child only);
//   - its own process group (so a signal can reach the children of a shell script), every signal at
//     its default disposition and none blocked (Node ignores SIGPIPE; the command must not inherit that);
//   - as much of body as the pipe takes is written at once; the rest is left to the caller;
//   - returns [pid, stdinFd, written]: stdinFd is -1 when the whole body was written (or the child had
//     already closed its stdin) and the pipe is closed; otherwise the caller writes body[written..] to it.
//   - returns -errno when nothing was started (ENOENT, EACCES, ENOEXEC...);
//   - onExit(code, signal) runs once: code >= 0 and signal 0, or code -1 and the signal number.
// available() says whether pidfd works here (a kernel older than 5.3, or a seccomp profile that
// forbids it: the caller then uses node:child_process).
//
// The next command, started from the exit itself: arm(id, path, argv, envp, body, onExit) queues a
// command (its strings converted now, the body kept alive) to start the moment a running child exits
// with status 0, before any JavaScript runs; a drain's next message then waits for no JavaScript,
// garbage collection or log line (bench/README.md). The exit's onExit gets a third argument,
// [id, result], result being what spawn() returns for it; the armed onExit then watches that child.
// disarm(id) takes a queued command back (false: it was started already, or never armed);
// noSuccessor(pid) says that pid's exit, whatever its status, starts nothing (a command being stopped).
// Armed commands start in the order they were armed. Everything runs on the event loop's thread.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

typedef struct child {
  uv_poll_t poll;
  int pidfd;
  pid_t pid;
  int successor_ok;
  napi_env env;
  napi_ref on_exit;
  napi_async_context async;
  struct child *prev, *next;
} child_t;

// A command armed to start at the next exit with status 0.
typedef struct armed {
  struct armed *next;
  int64_t id;
  char *path;
  char **argv;
  char **envp;
  napi_ref body_ref;  // keeps the Buffer (and so `body`) alive
  void *body;
  size_t body_len;
  napi_ref on_exit;
} armed_t;

// Per Node environment (napi_set_instance_data): the live children and the armed queue.
typedef struct {
  child_t *children;
  armed_t *head, *tail;
} state_t;

static int pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

static void free_child(uv_handle_t *handle) { free(handle->data); }

static state_t *state_of(napi_env env) {
  void *data = NULL;
  napi_get_instance_data(env, &data);
  return data;
}

static void free_strings(char **strings);

static void free_armed(napi_env env, armed_t *a) {
  free(a->path);
  free_strings(a->argv);
  free_strings(a->envp);
  if (a->body_ref) napi_delete_reference(env, a->body_ref);
  if (a->on_exit) napi_delete_reference(env, a->on_exit);
  free(a);
}

static napi_value int_value(napi_env env, int64_t v);
static napi_value launch(napi_env env, const char *path, char *const argv[], char *const envp[], const void *body, size_t body_len, napi_ref on_exit);

static void on_child_ready(uv_poll_t *poll, int status, int events) {
  (void)status;
  (void)events;
  child_t *child = poll->data;
  int wstatus = 0;
  pid_t r;
  do r = waitpid(child->pid, &wstatus, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == 0) return;  // not exited yet (stopped, or a spurious wake-up)

  uv_poll_stop(poll);
  close(child->pidfd);
  napi_env env = child->env;
  state_t *state = state_of(env);
  if (child->prev) child->prev->next = child->next;
  else state->children = child->next;
  if (child->next) child->next->prev = child->prev;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  int code = -1, signal = 0;
  if (r < 0) code = 255;  // cannot happen for our own child; never report success for it
  else if (WIFEXITED(wstatus)) code = WEXITSTATUS(wstatus);
  else if (WIFSIGNALED(wstatus)) signal = WTERMSIG(wstatus);
  napi_value callback, global, argv[3], result;
  napi_get_undefined(env, &argv[2]);
  armed_t *next = state->head;
  if (code == 0 && child->successor_ok && next) {
    // The next command starts now; JavaScript learns of it in this exit's callback.
    state->head = next->next;
    if (!state->head) state->tail = NULL;
    napi_ref on_exit = next->on_exit;
    next->on_exit = NULL;  // launch() owns it now
    napi_value started = launch(env, next->path, next->argv, next->envp, next->body, next->body_len, on_exit);
    napi_create_array_with_length(env, 2, &argv[2]);
    napi_set_element(env, argv[2], 0, int_value(env, next->id));
    napi_set_element(env, argv[2], 1, started);
    free_armed(env, next);
  }
  napi_get_reference_value(env, child->on_exit, &callback);
  napi_get_global(env, &global);
  napi_create_int32(env, code, &argv[0]);
  napi_create_int32(env, signal, &argv[1]);
  napi_make_callback(env, child->async, global, callback, 3, argv, &result);
  napi_delete_reference(env, child->on_exit);
  napi_async_destroy(env, child->async);
  napi_close_handle_scope(env, scope);
  uv_close((uv_handle_t *)poll, free_child);
}

static char *utf8(napi_env env, napi_value value) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (s) napi_get_value_string_utf8(env, value, s, len + 1, &len);
  return s;
}

static void free_strings(char **strings) {
  if (!strings) return;
  for (char **p = strings; *p; p++) free(*p);
  free(strings);
}

static char **utf8_array(napi_env env, napi_value array) {
  uint32_t n = 0;
  if (napi_get_array_length(env, array, &n) != napi_ok) return NULL;
  char **out = calloc(n + 1, sizeof(char *));
  if (!out) return NULL;
  for (uint32_t i = 0; i < n; i++) {
    napi_value element;
    napi_get_element(env, array, i, &element);
    if (!(out[i] = utf8(env, element))) {
      free_strings(out);
      return NULL;
    }
  }
  return out;
}

static napi_value int_value(napi_env env, int64_t v) {
  napi_value out;
  napi_create_int64(env, v, &out);
  return out;
}

static napi_value throw_type_error(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

// Start the child: 0 and *pid set, or an errno.
static int start(const char *path, char *const argv[], char *const envp[], int stdin_fd, pid_t *pid) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  sigset_t all, none;
  // Every bit, not sigfillset: that one leaves out glibc's internal signals (32, 33), which glibc's
  // posix_spawn would then leave ignored in the command (node:child_process gives it none ignored).
  memset(&all, 0xff, sizeof all);
  sigemptyset(&none);
  int err = posix_spawn_file_actions_init(&actions);
  if (err) return err;
  if ((err = posix_spawnattr_init(&attr))) {
    posix_spawn_file_actions_destroy(&actions);
    return err;
  }
  // dup2 onto the same descriptor clears FD_CLOEXEC in the child (glibc >= 2.29).
  if (!err) err = posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
  if (!err) err = posix_spawn_file_actions_adddup2(&actions, 1, 1);
  if (!err) err = posix_spawn_file_actions_adddup2(&actions, 2, 2);
  if (!err) err = posix_spawnattr_setsigdefault(&attr, &all);
  if (!err) err = posix_spawnattr_setsigmask(&attr, &none);
  if (!err) err = posix_spawnattr_setpgroup(&attr, 0);
  if (!err) err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  if (!err) err = posix_spawn(pid, path, &actions, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  return err;
}

// Start one child and watch it: [pid, stdinFd, written], or -errno when nothing was started. Takes
// ownership of on_exit (the reference is deleted when nothing was started).
static napi_value launch(napi_env env, const char *path, char *const argv[], char *const envp[], const void *body, size_t body_len, napi_ref on_exit) {
  int err = 0, fds[2] = {-1, -1}, pidfd = -1;
  pid_t pid = 0;
  if (pipe2(fds, O_CLOEXEC) < 0) err = errno;
  if (!err) err = start(path, argv, envp, fds[0], &pid);
  if (fds[0] >= 0) close(fds[0]);
  if (!err && (pidfd = pidfd_open(pid)) < 0) {
    // Started but cannot be watched (available() said yes, so this is unexpected): do not leave it
    // running unobserved; the caller reports the error.
    err = errno;
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
  }
  if (err) {
    if (fds[1] >= 0) close(fds[1]);
    napi_delete_reference(env, on_exit);
    return int_value(env, -err);
  }

  // As much of the body as the pipe takes, now; a child that already closed its stdin is not an error
  // (its exit status decides, as with node:child_process).
  size_t written = 0;
  int closed = 0;
  fcntl(fds[1], F_SETFL, O_NONBLOCK);
  while (written < body_len) {
    ssize_t n = write(fds[1], (const char *)body + written, body_len - written);
    if (n >= 0) written += (size_t)n;
    else if (errno == EINTR) continue;
    else {
      if (errno != EAGAIN) closed = 1;
      break;
    }
  }
  int stdin_fd = fds[1];
  if (written == body_len || closed) {
    close(fds[1]);
    stdin_fd = -1;
  }

  child_t *child = calloc(1, sizeof *child);
  uv_loop_t *loop = NULL;
  napi_get_uv_event_loop(env, &loop);
  int rc = child ? uv_poll_init(loop, &child->poll, pidfd) : UV_ENOMEM;
  if (rc == 0) {
    child->poll.data = child;
    rc = uv_poll_start(&child->poll, UV_READABLE, on_child_ready);
    if (rc != 0) uv_close((uv_handle_t *)&child->poll, free_child);
  } else {
    free(child);
  }
  if (rc != 0) {
    // Nothing would ever report this child's exit: do not leave it running unobserved.
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    close(pidfd);
    if (stdin_fd >= 0) close(stdin_fd);
    napi_delete_reference(env, on_exit);
    return int_value(env, rc);  // libuv errors are -errno on Unix
  }
  child->pid = pid;
  child->pidfd = pidfd;
  child->successor_ok = 1;
  child->env = env;
  child->on_exit = on_exit;
  napi_value resource_name;
  napi_create_string_utf8(env, "wq-spawn", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, NULL, resource_name, &child->async);
  state_t *state = state_of(env);
  child->next = state->children;
  if (child->next) child->next->prev = child;
  state->children = child;

  napi_value result;
  napi_create_array_with_length(env, 3, &result);
  napi_set_element(env, result, 0, int_value(env, pid));
  napi_set_element(env, result, 1, int_value(env, stdin_fd));
  napi_set_element(env, result, 2, int_value(env, (int64_t)written));
  return result;
}

// The arguments spawn() and arm() share, from args[first]: path, argv, envp, body, onExit.
typedef struct {
  char *path;
  char **argv;
  char **envp;
  void *body;
  size_t body_len;
} command_t;

static int command_args(napi_env env, napi_value *args, command_t *out) {
  out->body = NULL;
  out->body_len = 0;
  if (napi_get_buffer_info(env, args[3], &out->body, &out->body_len) != napi_ok) return throw_type_error(env, "body must be a Buffer"), 0;
  napi_valuetype callback_type;
  napi_typeof(env, args[4], &callback_type);
  if (callback_type != napi_function) return throw_type_error(env, "onExit must be a function"), 0;
  out->path = utf8(env, args[0]);
  out->argv = utf8_array(env, args[1]);
  out->envp = utf8_array(env, args[2]);
  if (!out->path || !out->argv || !out->envp) {
    free(out->path);
    free_strings(out->argv);
    free_strings(out->envp);
    return throw_type_error(env, "path must be a string, argv and envp arrays of strings"), 0;
  }
  return 1;
}

static napi_value Spawn(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value args[5];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  if (argc < 5) return throw_type_error(env, "spawn(path, argv, envp, body, onExit)");
  command_t c;
  if (!command_args(env, args, &c)) return NULL;
  napi_ref on_exit;
  napi_create_reference(env, args[4], 1, &on_exit);
  napi_value result = launch(env, c.path, c.argv, c.envp, c.body, c.body_len, on_exit);
  free(c.path);
  free_strings(c.argv);
  free_strings(c.envp);
  return result;
}

static napi_value Arm(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value args[6];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  if (argc < 6) return throw_type_error(env, "arm(id, path, argv, envp, body, onExit)");
  int64_t id;
  if (napi_get_value_int64(env, args[0], &id) != napi_ok) return throw_type_error(env, "id must be a number");
  command_t c;
  if (!command_args(env, args + 1, &c)) return NULL;
  armed_t *a = calloc(1, sizeof *a);
  if (!a) {
    free(c.path);
    free_strings(c.argv);
    free_strings(c.envp);
    return throw_type_error(env, "out of memory");
  }
  a->id = id;
  a->path = c.path;
  a->argv = c.argv;
  a->envp = c.envp;
  a->body = c.body;
  a->body_len = c.body_len;
  napi_create_reference(env, args[4], 1, &a->body_ref);
  napi_create_reference(env, args[5], 1, &a->on_exit);
  state_t *state = state_of(env);
  if (state->tail) state->tail->next = a;
  else state->head = a;
  state->tail = a;
  return NULL;
}

static napi_value Disarm(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  int64_t id = -1;
  if (argc < 1 || napi_get_value_int64(env, arg, &id) != napi_ok) return throw_type_error(env, "disarm(id)");
  state_t *state = state_of(env);
  armed_t *prev = NULL, *a = state->head;
  while (a && a->id != id) {
    prev = a;
    a = a->next;
  }
  if (a) {
    if (prev) prev->next = a->next;
    else state->head = a->next;
    if (state->tail == a) state->tail = prev;
    free_armed(env, a);
  }
  napi_value out;
  napi_get_boolean(env, a != NULL, &out);
  return out;
}

static napi_value NoSuccessor(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  int32_t pid = 0;
  if (argc < 1 || napi_get_value_int32(env, arg, &pid) != napi_ok) return throw_type_error(env, "noSuccessor(pid)");
  for (child_t *c = state_of(env)->children; c; c = c->next)
    if (c->pid == pid) c->successor_ok = 0;
  return NULL;
}

static napi_value Available(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = pidfd_open(getpid());
  if (fd >= 0) close(fd);
  napi_value out;
  napi_get_boolean(env, fd >= 0, &out);
  return out;
}

static void free_state(napi_env env, void *data, void *hint) {
  (void)hint;
  state_t *state = data;
  while (state->head) {
    armed_t *a = state->head;
    state->head = a->next;
    free_armed(env, a);
  }
  free(state);
}

static napi_value Init(napi_env env, napi_value exports) {
  state_t *state = calloc(1, sizeof *state);
  if (!state || napi_set_instance_data(env, state, free_state, NULL) != napi_ok) {
    free(state);
    return throw_type_error(env, "wq-spawn: out of memory");
  }
  napi_property_descriptor props[] = {
      {"spawn", NULL, Spawn, NULL, NULL, NULL, napi_default, NULL},
      {"arm", NULL, Arm, NULL, NULL, NULL, napi_default, NULL},
      {"disarm", NULL, Disarm, NULL, NULL, NULL, napi_default, NULL},
      {"noSuccessor", NULL, NoSuccessor, NULL, NULL, NULL, napi_default, NULL},
      {"available", NULL, Available, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 5, props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
