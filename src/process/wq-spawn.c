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

typedef struct {
  uv_poll_t poll;
  int pidfd;
  pid_t pid;
  napi_env env;
  napi_ref on_exit;
  napi_async_context async;
} child_t;

static int pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

static void free_child(uv_handle_t *handle) { free(handle->data); }

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
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  int code = -1, signal = 0;
  if (r < 0) code = 255;  // cannot happen for our own child; never report success for it
  else if (WIFEXITED(wstatus)) code = WEXITSTATUS(wstatus);
  else if (WIFSIGNALED(wstatus)) signal = WTERMSIG(wstatus);
  napi_value callback, global, argv[2], result;
  napi_get_reference_value(env, child->on_exit, &callback);
  napi_get_global(env, &global);
  napi_create_int32(env, code, &argv[0]);
  napi_create_int32(env, signal, &argv[1]);
  napi_make_callback(env, child->async, global, callback, 2, argv, &result);
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

static napi_value Spawn(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value args[5];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  if (argc < 5) return throw_type_error(env, "spawn(path, argv, envp, body, onExit)");
  void *body = NULL;
  size_t body_len = 0;
  if (napi_get_buffer_info(env, args[3], &body, &body_len) != napi_ok) return throw_type_error(env, "body must be a Buffer");
  napi_valuetype callback_type;
  napi_typeof(env, args[4], &callback_type);
  if (callback_type != napi_function) return throw_type_error(env, "onExit must be a function");
  char *path = utf8(env, args[0]);
  char **argv = utf8_array(env, args[1]);
  char **envp = utf8_array(env, args[2]);
  if (!path || !argv || !envp) {
    free(path);
    free_strings(argv);
    free_strings(envp);
    return throw_type_error(env, "path must be a string, argv and envp arrays of strings");
  }

  int err = 0, fds[2] = {-1, -1}, pidfd = -1;
  pid_t pid = 0;
  if (pipe2(fds, O_CLOEXEC) < 0) err = errno;
  if (!err) err = start(path, argv, envp, fds[0], &pid);
  free(path);
  free_strings(argv);
  free_strings(envp);
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
    return int_value(env, rc);  // libuv errors are -errno on Unix
  }
  child->pid = pid;
  child->pidfd = pidfd;
  child->env = env;
  napi_value resource_name;
  napi_create_string_utf8(env, "wq-spawn", NAPI_AUTO_LENGTH, &resource_name);
  napi_create_reference(env, args[4], 1, &child->on_exit);
  napi_async_init(env, NULL, resource_name, &child->async);

  napi_value result;
  napi_create_array_with_length(env, 3, &result);
  napi_set_element(env, result, 0, int_value(env, pid));
  napi_set_element(env, result, 1, int_value(env, stdin_fd));
  napi_set_element(env, result, 2, int_value(env, (int64_t)written));
  return result;
}

static napi_value Available(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = pidfd_open(getpid());
  if (fd >= 0) close(fd);
  napi_value out;
  napi_get_boolean(env, fd >= 0, &out);
  return out;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"spawn", NULL, Spawn, NULL, NULL, NULL, napi_default, NULL},
      {"available", NULL, Available, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 2, props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
