// wq-spawn: start a command with posix_spawn and learn of its exit through a pidfd, on the event loop.
//
// Why: node:child_process starts a child with fork(), which copies the page tables of a ~50 MB Node
// process for every message; glibc's posix_spawn uses clone(CLONE_VM | CLONE_VFORK) and copies nothing
// (docs/performance.md). Everything else is what node:child_process does with `detached: true`, so the
// two ways of starting a command keep one contract (src/process/runner.ts; test/process/ runs both):
//   - the child is a session leader (setsid), so it has no controlling terminal to stop it (SIGTTOU)
//     and a signal to its process group reaches a shell script's own children too;
//   - every signal at its default disposition and none blocked (Node ignores SIGPIPE; a command must
//     not inherit that);
//   - stdin is a fresh pipe; stdout is the parent's or the descriptor given; stderr is the parent's.
//
// No threads. The exit is watched with a uv_poll on the child's pidfd (Linux >= 5.3), and the child is
// reaped with waitpid on its own pid (libuv, too, reaps only the pids it started).
//
// spawn(path, argv, envp, body, onExit, stdoutFd) -> [pid, stdinFd, written] or -errno (none started):
//   - stdoutFd >= 0 becomes the command's stdout (a file wq captures a result in); -1: the parent's;
//   - as much of body as the pipe takes is written at once; stdinFd is -1 when all of it was written
//     (or the child closed its stdin already) and the pipe is closed; otherwise the caller writes
//     body[written..] to stdinFd and closes it;
//   - a string holding a NUL byte is refused with -EINVAL (C cannot carry it; runner.ts never sends one);
//   - at the exit, the child's process group is killed (what it left running), then the child is reaped;
//   - onExit(code, signal) runs once, on the event loop: code >= 0 and signal 0, or code -1 and the
//     signal number. If it throws, it is raised as an uncaught exception at once, never left pending.
// available() returns null, or why the addon cannot be used here (wq then says so, and uses node:child_process).
//
// glibc: the file links against symbols of glibc 2.15 at most (test/process/ checks it is at most 2.28),
// and POSIX_SPAWN_SETSID works from glibc 2.26 (available() checks); pidfd_open goes through syscall(),
// since its wrapper is glibc 2.36.
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
#ifndef POSIX_SPAWN_SETSID
#define POSIX_SPAWN_SETSID 0x80
#endif

typedef struct {
  uv_poll_t poll;  // first: the handle's address is the child's
  pid_t pid;
  int pidfd;
  napi_env env;
  napi_ref on_exit;
  napi_async_context async;
} child_t;

static int pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

// A JS string as a C string: 0, or EINVAL (not a string, or a NUL inside), or ENOMEM.
static int utf8(napi_env env, napi_value value, char **out) {
  size_t len = 0;
  *out = NULL;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &len) != napi_ok) return EINVAL;
  char *s = malloc(len + 1);
  if (!s) return ENOMEM;
  napi_get_value_string_utf8(env, value, s, len + 1, &len);
  if (strlen(s) != len) {
    free(s);
    return EINVAL;
  }
  *out = s;
  return 0;
}

static void free_strings(char **strings) {
  if (!strings) return;
  for (char **p = strings; *p; p++) free(*p);
  free(strings);
}

// A JS array of strings as a NULL-terminated C array: 0 or an errno, as utf8().
static int utf8_array(napi_env env, napi_value array, char ***out) {
  uint32_t n = 0;
  *out = NULL;
  if (napi_get_array_length(env, array, &n) != napi_ok) return EINVAL;
  char **strings = calloc(n + 1, sizeof(char *));
  if (!strings) return ENOMEM;
  for (uint32_t i = 0; i < n; i++) {
    napi_value element;
    int err = napi_get_element(env, array, i, &element) == napi_ok ? utf8(env, element, &strings[i]) : EINVAL;
    if (err) {
      free_strings(strings);
      return err;
    }
  }
  *out = strings;
  return 0;
}

static napi_value int_value(napi_env env, int64_t v) {
  napi_value out;
  napi_create_int64(env, v, &out);
  return out;
}

// posix_spawn with the contract above. stdout and stderr are passed as duplicates: dup2 onto a
// different descriptor clears FD_CLOEXEC in the child on every glibc (onto the same one only from 2.29).
static int start(const char *path, char *const argv[], char *const envp[], int stdin_fd, int stdout_fd, pid_t *pid) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  sigset_t all, none;
  // Every bit, not sigfillset: that one leaves out glibc's internal signals (32, 33), which posix_spawn
  // would then leave ignored in the command (node:child_process gives it none ignored).
  memset(&all, 0xff, sizeof all);
  sigemptyset(&none);
  int out = fcntl(stdout_fd >= 0 ? stdout_fd : 1, F_DUPFD_CLOEXEC, 3), err_fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
  int err = stdout_fd >= 0 && out < 0 ? errno : posix_spawn_file_actions_init(&actions);  // never a silent stdout
  if (!err && (err = posix_spawnattr_init(&attr))) posix_spawn_file_actions_destroy(&actions);
  if (!err) {
    err = posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
    if (!err && out >= 0) err = posix_spawn_file_actions_adddup2(&actions, out, 1);
    if (!err && err_fd >= 0) err = posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
    if (!err) err = posix_spawnattr_setsigdefault(&attr, &all);
    if (!err) err = posix_spawnattr_setsigmask(&attr, &none);
    if (!err) err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    if (!err) err = posix_spawn(pid, path, &actions, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  if (out >= 0) close(out);
  if (err_fd >= 0) close(err_fd);
  return err;
}

static void on_closed(uv_handle_t *handle) {
  child_t *c = (child_t *)handle;
  close(c->pidfd);
  free(c);
}

// The pidfd is readable: the child has exited. Reap it, stop watching, and tell JavaScript.
static void on_ready(uv_poll_t *handle, int status, int events) {
  (void)status, (void)events;
  child_t *c = (child_t *)handle;
  int ws = 0, peeked;
  pid_t r;
  siginfo_t info = {0};
  do peeked = waitid(P_PID, (id_t)c->pid, &info, WEXITED | WNOHANG | WNOWAIT);
  while (peeked < 0 && errno == EINTR);
  if (peeked == 0 && info.si_pid == 0) return;  // not yet: poll again
  // What the command left running in its group dies with it, killed while the unreaped command still holds the group's id.
  if (peeked == 0) kill(-c->pid, SIGKILL);
  do r = waitpid(c->pid, &ws, WNOHANG);
  while (r < 0 && errno == EINTR);
  int code = -1, sig = 0;
  if (r > 0 && WIFEXITED(ws)) code = WEXITSTATUS(ws);
  else if (r > 0 && WIFSIGNALED(ws)) sig = WTERMSIG(ws);
  // r < 0: reaped by someone else (no status to give): code -1, signal 0, which runner.ts counts as a failure.
  uv_poll_stop(handle);

  napi_env env = c->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value fn, recv, argv[2] = {int_value(env, code), int_value(env, sig)};
  napi_get_reference_value(env, c->on_exit, &fn);
  napi_get_global(env, &recv);
  if (napi_make_callback(env, c->async, recv, fn, 2, argv, NULL) != napi_ok) {
    bool pending = false;
    napi_value exception;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending && napi_get_and_clear_last_exception(env, &exception) == napi_ok) {
      napi_fatal_exception(env, exception);
    }
  }
  napi_delete_reference(env, c->on_exit);
  napi_async_destroy(env, c->async);
  napi_close_handle_scope(env, scope);
  uv_close((uv_handle_t *)handle, on_closed);  // frees `c` on a later turn of the loop
}

// Writes what the non-blocking pipe takes now; returns the bytes written, or len when the child has
// closed its end (EPIPE: the command does not read its stdin, which is not an error in itself).
static size_t write_now(int fd, const char *body, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = write(fd, body + done, len - done);
    if (n > 0) done += (size_t)n;
    else if (n < 0 && errno == EINTR) continue;
    else if (n < 0 && errno == EPIPE) return len;
    else break;  // EAGAIN: the pipe is full; the caller writes the rest
  }
  return done;
}

static napi_value spawn(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value args[6];
  int32_t stdout_fd = -1;
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  if (argc > 5 && napi_get_value_int32(env, args[5], &stdout_fd) != napi_ok) return int_value(env, -EINVAL);
  char *path = NULL, **argv = NULL, **envp = NULL;
  void *body = NULL;
  size_t body_len = 0;
  int err = argc < 5 ? EINVAL : utf8(env, args[0], &path);
  if (!err) err = utf8_array(env, args[1], &argv);
  if (!err) err = utf8_array(env, args[2], &envp);
  if (!err && napi_get_buffer_info(env, args[3], &body, &body_len) != napi_ok) err = EINVAL;

  int fds[2] = {-1, -1}, pidfd = -1;
  pid_t pid = 0;
  if (!err && pipe2(fds, O_CLOEXEC) < 0) err = errno;
  if (!err) err = start(path, argv, envp, fds[0], stdout_fd, &pid);
  free(path);
  free_strings(argv);
  free_strings(envp);
  if (fds[0] >= 0) close(fds[0]);
  if (!err && (pidfd = pidfd_open(pid)) < 0) {
    // Started but cannot be watched (EMFILE, say): end it now rather than run it unwatched.
    err = errno;
    kill(-pid, SIGKILL);  // a session leader: its group is its pid
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
  }
  child_t *c = err ? NULL : calloc(1, sizeof(child_t));
  uv_loop_t *loop = NULL;
  if (c) {
    c->pid = pid;
    c->pidfd = pidfd;
    c->env = env;
    napi_value name;
    napi_create_string_utf8(env, "wq-spawn", NAPI_AUTO_LENGTH, &name);
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, &c->poll, pidfd) != 0) {
      free(c);  // never registered with the loop: freed at once
      c = NULL;
    } else if (uv_poll_start(&c->poll, UV_READABLE, on_ready) != 0) {
      kill(-pid, SIGKILL);
      while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
      uv_close((uv_handle_t *)&c->poll, on_closed);  // registered: freed (and pidfd closed) by the loop
      c = NULL;
      pidfd = -1;
      err = ENOMEM;
    } else {
      napi_create_reference(env, args[4], 1, &c->on_exit);
      napi_async_init(env, NULL, name, &c->async);
    }
  }
  if (!err && !c) {
    err = ENOMEM;
    kill(-pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    close(pidfd);
  }
  if (err) {
    if (fds[1] >= 0) close(fds[1]);
    return int_value(env, -err);
  }

  fcntl(fds[1], F_SETFL, O_NONBLOCK);
  size_t written = write_now(fds[1], body, body_len);
  if (written == body_len) {
    close(fds[1]);
    fds[1] = -1;
  }
  napi_value result;
  napi_create_array_with_length(env, 3, &result);
  napi_set_element(env, result, 0, int_value(env, pid));
  napi_set_element(env, result, 1, int_value(env, fds[1]));
  napi_set_element(env, result, 2, int_value(env, (int64_t)written));
  return result;
}

// Why the addon cannot be used here, or null: pidfd_open refused (Linux < 5.3, a seccomp profile), or a
// glibc older than 2.26, whose posix_spawnattr_setflags refuses POSIX_SPAWN_SETSID.
static napi_value available(napi_env env, napi_callback_info info) {
  (void)info;
  const char *why = NULL;
  int fd = pidfd_open(getpid());
  if (fd >= 0) close(fd);
  else why = "the kernel refuses pidfd_open (Linux < 5.3, or a seccomp profile)";
  posix_spawnattr_t attr;
  if (!why && posix_spawnattr_init(&attr) == 0) {
    if (posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID) != 0) why = "this glibc has no POSIX_SPAWN_SETSID (glibc < 2.26)";
    posix_spawnattr_destroy(&attr);
  }
  napi_value out;
  if (why) napi_create_string_utf8(env, why, NAPI_AUTO_LENGTH, &out);
  else napi_get_null(env, &out);
  return out;
}

// interface: what native-spawn.ts checks, so that an addon left from an older build is never used.
NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"spawn", NULL, spawn, NULL, NULL, NULL, napi_default, NULL},
      {"available", NULL, available, NULL, NULL, NULL, napi_default, NULL},
      {"interface", NULL, NULL, NULL, NULL, int_value(env, 3), napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
