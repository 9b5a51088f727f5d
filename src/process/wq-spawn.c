// wq-spawn: start the command with posix_spawn and learn its exit through a pidfd.
//
// Why: node:child_process (libuv 1.46) starts a child with fork(), which copies the page tables of a
// ~50 MB Node process on every message; in a drain that was most of wq-consume's CPU (bench/README.md).
// glibc's posix_spawn uses clone(CLONE_VM | CLONE_VFORK): nothing is copied, whatever the parent's size.
// Exits are watched by threads of the addon's own, each blocked in epoll_wait on its children's pidfds
// (Linux >= 5.3), and reaped with waitpid on those pids only, so they never race libuv, which also reaps
// only the pids it started. The exit reaches JavaScript on the event loop (a uv_async). A watching
// thread is blocked while a child it starts runs up to its exec (vfork), so one thread for all would
// make commands running side by side wait for each other's starts (bench/README.md): a spawn() goes to
// a thread with nothing to watch, a new one while there are fewer than MAX_WATCHERS, and an armed
// command is started, and watched, by the thread that reaped the exit it follows.
//
// spawn(path, argv, envp, body, onExit):
//   - path: the resolved executable (command.ts); argv[0] is the name as the user gave it;
//   - the child gets a fresh pipe as stdin, and the parent's stdout and stderr (their FD_CLOEXEC,
//     which Node sets, is cleared in the child only);
//   - its own process group (so a signal can reach the children of a shell script), every signal at
//     its default disposition and none blocked (Node ignores SIGPIPE; the command must not inherit that);
//   - as much of body as the pipe takes is written at once; the rest is left to the caller;
//   - returns [pid, stdinFd, written]: stdinFd is -1 when the whole body was written (or the child had
//     already closed its stdin) and the pipe is closed; otherwise the caller writes body[written..] to it.
//   - returns -errno when nothing was started (ENOENT, EACCES, ENOEXEC...);
//   - onExit(code, signal, successor) runs once, on the event loop: code >= 0 and signal 0, or code -1
//     and the signal number.
// available() says whether pidfd works here (a kernel older than 5.3, or a seccomp profile that
// forbids it: the caller then uses node:child_process).
//
// The next command, started from the exit itself: arm(id, path, argv, envp, body, onExit) queues a
// command (its strings converted now, the body kept alive) that a watching thread starts the moment
// a running child exits with status 0, without waiting for the event loop: a drain's next message then
// waits for no JavaScript, garbage collection or log line (bench/README.md). That exit's onExit gets
// `successor` = [id, result], result being what spawn() would have returned; the armed onExit then
// gets that child's own exit. disarm(id) takes a queued command back: false when it was started
// already (its start is reported with the exit that started it) or never armed. noSuccessor(pid) says
// that pid's exit, whatever its status, starts nothing (a command being stopped). Armed commands start
// in the order they were armed, one per exit.
//
// The part of the environment that stays the same for a run: envBase(envp) converts those strings once
// and returns a handle that spawn() and arm() take as a last, optional argument; their own envp is then
// only what is added to it (a message's variables). A pod's environment holds dozens to hundreds of
// variables (one set per Service in the namespace); converting them all for every message was ~10% of
// the event loop's CPU in a drain (bench/README.md). The command still gets base + envp, in that order.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

// A command armed to start at the next exit with status 0. Made and freed on the event loop's thread.
// A command to start: what spawn() and arm() take (args from `first`: path, argv, envp, body, onExit).
typedef struct {
  char *path;
  char **argv;
  char **envp;        // what the child gets: base's strings (borrowed), then own's
  struct env_base *base;  // NULL: envp owns its strings
  char **own;         // with a base: the strings envp adds to it
  void *body;
  size_t body_len;
} command_t;

// envBase(): strings shared by the commands that use them, freed with the last user. The handle holds
// one reference, every command made with it one more; all are taken and dropped on the event loop's
// thread, the atomics only make that not matter.
typedef struct env_base {
  long refs;
  size_t n;
  char **strings;
} env_base_t;

static const napi_type_tag ENV_BASE_TAG = {0x77712d656e766261ULL, 0x73652d7461673031ULL};

typedef struct armed {
  struct armed *next;
  int64_t id;
  command_t cmd;
  napi_ref body_ref;  // keeps the Buffer (and so `cmd.body`) alive
  napi_ref on_exit;
} armed_t;

// What a start gave: pid > 0 and the stdin still to write, or err (an errno) when nothing started.
typedef struct {
  int err;
  pid_t pid;
  int stdin_fd;
  size_t written;
} started_t;

typedef struct child {
  pid_t pid;
  int pidfd;
  int successor_ok;
  napi_ref on_exit;             // event loop thread only
  napi_async_context async;     // event loop thread only
  struct child *prev, *next;    // the watched list
  // Filled by its watching thread at the exit:
  int code, signal;
  armed_t *successor;           // the armed command this exit started (or failed to start)
  started_t successor_started;
  struct child *successor_child;
  struct child *done_next;      // the exits the event loop has not reported yet
} child_t;

#define MAX_WATCHERS 8

typedef struct state state_t;

// One watching thread and the children it watches (`watched`, guarded by the state's lock).
typedef struct watcher {
  state_t *st;
  int epfd;
  pthread_t thread;
  long watched;
} watcher_t;

// Per Node environment (napi_set_instance_data). `lock` guards children, the armed queue, the done
// list and the watchers' counts; `known` (children JavaScript has not heard the end of) and `n_watchers`
// are the event loop thread's own. `stopfd` is in every watcher's epoll set.
struct state {
  pthread_mutex_t lock;
  int stopfd;
  watcher_t watchers[MAX_WATCHERS];
  int n_watchers;
  uv_async_t async;
  napi_env env;
  child_t *children;
  armed_t *head, *tail;
  child_t *done_head, *done_tail;
  long known;
};

static int pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

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

static void release_base(env_base_t *b) {
  if (b && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0) {
    free_strings(b->strings);
    free(b);
  }
}

static void free_command(command_t *c) {
  free(c->path);
  free_strings(c->argv);
  if (c->base) {
    free(c->envp);  // borrowed pointers: the strings are the base's and own's
    free_strings(c->own);
    release_base(c->base);
  } else {
    free_strings(c->envp);
  }
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

// A child that cannot be watched must not run unobserved.
static void kill_and_reap(pid_t pid) {
  kill(pid, SIGKILL);
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
}

// Takes a child off the watched list; the caller holds st->lock.
static void unlink_child(state_t *st, child_t *child) {
  if (child->prev) child->prev->next = child->next;
  else st->children = child->next;
  if (child->next) child->next->prev = child->prev;
}

// Start one child, write what fits of the body, and have `w` watch it. Any thread; no N-API.
static started_t launch(state_t *st, watcher_t *w, const char *path, char *const argv[], char *const envp[], const void *body, size_t body_len, child_t **out) {
  started_t r = {0, 0, -1, 0};
  int fds[2] = {-1, -1}, pidfd = -1;
  *out = NULL;
  if (pipe2(fds, O_CLOEXEC) < 0) r.err = errno;
  if (!r.err) r.err = start(path, argv, envp, fds[0], &r.pid);
  if (fds[0] >= 0) close(fds[0]);
  child_t *child = r.err ? NULL : calloc(1, sizeof *child);
  if (!r.err && !child) r.err = ENOMEM;
  if (!r.err && (pidfd = pidfd_open(r.pid)) < 0) r.err = errno;
  if (r.err) {
    // Started but cannot be watched (available() said yes, so this is unexpected): the caller
    // reports the error.
    if (r.pid > 0) kill_and_reap(r.pid);
    if (fds[1] >= 0) close(fds[1]);
    free(child);
    r.pid = 0;
    return r;
  }

  // As much of the body as the pipe takes, now; a child that already closed its stdin is not an error
  // (its exit status decides, as with node:child_process).
  int closed = 0;
  fcntl(fds[1], F_SETFL, O_NONBLOCK);
  while (r.written < body_len) {
    ssize_t n = write(fds[1], (const char *)body + r.written, body_len - r.written);
    if (n >= 0) r.written += (size_t)n;
    else if (errno == EINTR) continue;
    else {
      if (errno != EAGAIN) closed = 1;
      break;
    }
  }
  r.stdin_fd = fds[1];
  if (r.written == body_len || closed) {
    close(fds[1]);
    r.stdin_fd = -1;
  }

  child->pid = r.pid;
  child->pidfd = pidfd;
  child->successor_ok = 1;
  pthread_mutex_lock(&st->lock);
  child->next = st->children;
  if (child->next) child->next->prev = child;
  st->children = child;
  w->watched++;
  pthread_mutex_unlock(&st->lock);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = child};
  // Level-triggered: an exit before this is not missed.
  if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, pidfd, &ev) < 0) {
    // Nothing would ever report this child's exit.
    r.err = errno;
    pthread_mutex_lock(&st->lock);
    unlink_child(st, child);
    w->watched--;
    pthread_mutex_unlock(&st->lock);
    kill_and_reap(r.pid);
    close(pidfd);
    if (r.stdin_fd >= 0) close(r.stdin_fd);
    free(child);
    r.pid = 0;
    r.stdin_fd = -1;
    return r;
  }
  *out = child;
  return r;
}

// A watching thread: reap each exit, start the armed command it frees a slot for (and watch it), queue
// the exit for the event loop.
static void *watch(void *arg) {
  watcher_t *w = arg;
  state_t *st = w->st;
  struct epoll_event events[16];
  for (;;) {
    int n = epoll_wait(w->epfd, events, 16, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return NULL;
    int reported = 0;
    for (int i = 0; i < n; i++) {
      child_t *child = events[i].data.ptr;
      if (!child) return NULL;  // stopfd: the environment is going away
      int wstatus = 0;
      pid_t r;
      do r = waitpid(child->pid, &wstatus, WNOHANG);
      while (r < 0 && errno == EINTR);
      if (r == 0) continue;  // not exited yet (stopped, or a spurious wake-up)
      epoll_ctl(w->epfd, EPOLL_CTL_DEL, child->pidfd, NULL);
      close(child->pidfd);
      child->code = -1;
      child->signal = 0;
      if (r < 0) child->code = 255;  // cannot happen for our own child; never report success for it
      else if (WIFEXITED(wstatus)) child->code = WEXITSTATUS(wstatus);
      else if (WIFSIGNALED(wstatus)) child->signal = WTERMSIG(wstatus);

      pthread_mutex_lock(&st->lock);
      unlink_child(st, child);
      armed_t *next = NULL;
      if (child->code == 0 && child->successor_ok && st->head) {
        next = st->head;
        st->head = next->next;
        if (!st->head) st->tail = NULL;
      }
      pthread_mutex_unlock(&st->lock);
      if (next) {
        child->successor = next;
        child->successor_started = launch(st, w, next->cmd.path, next->cmd.argv, next->cmd.envp, next->cmd.body, next->cmd.body_len, &child->successor_child);
      }
      pthread_mutex_lock(&st->lock);
      // Counted until now, so that a spawn() from JavaScript does not pick this thread while it is
      // blocked starting the successor.
      w->watched--;
      if (st->done_tail) st->done_tail->done_next = child;
      else st->done_head = child;
      st->done_tail = child;
      pthread_mutex_unlock(&st->lock);
      reported = 1;
    }
    if (reported) uv_async_send(&st->async);
  }
}

static void free_armed(napi_env env, armed_t *a) {
  free_command(&a->cmd);
  if (a->body_ref) napi_delete_reference(env, a->body_ref);
  if (a->on_exit) napi_delete_reference(env, a->on_exit);
  free(a);
}

static napi_value started_value(napi_env env, started_t r) {
  if (r.err) return int_value(env, -r.err);
  napi_value out;
  napi_create_array_with_length(env, 3, &out);
  napi_set_element(env, out, 0, int_value(env, r.pid));
  napi_set_element(env, out, 1, int_value(env, r.stdin_fd));
  napi_set_element(env, out, 2, int_value(env, (int64_t)r.written));
  return out;
}

// JavaScript hears of a child it started: it now owns on_exit.
static void adopt(state_t *st, child_t *child, napi_ref on_exit) {
  napi_value resource_name;
  napi_create_string_utf8(st->env, "wq-spawn", NAPI_AUTO_LENGTH, &resource_name);
  child->on_exit = on_exit;
  napi_async_init(st->env, NULL, resource_name, &child->async);
  if (st->known++ == 0) uv_ref((uv_handle_t *)&st->async);  // a running command keeps the loop alive
}

// On the event loop: report the exits, in order, each with the start it made.
static void on_exits(uv_async_t *async) {
  state_t *st = async->data;
  napi_env env = st->env;
  pthread_mutex_lock(&st->lock);
  child_t *child = st->done_head;
  st->done_head = st->done_tail = NULL;
  pthread_mutex_unlock(&st->lock);
  while (child) {
    child_t *done_next = child->done_next;
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    napi_value callback, global, argv[3], result;
    napi_get_undefined(env, &argv[2]);
    armed_t *next = child->successor;
    if (next) {
      napi_ref on_exit = next->on_exit;
      next->on_exit = NULL;
      if (child->successor_child) adopt(st, child->successor_child, on_exit);
      else napi_delete_reference(env, on_exit);
      napi_create_array_with_length(env, 2, &argv[2]);
      napi_set_element(env, argv[2], 0, int_value(env, next->id));
      napi_set_element(env, argv[2], 1, started_value(env, child->successor_started));
      free_armed(env, next);
    }
    napi_get_reference_value(env, child->on_exit, &callback);
    napi_get_global(env, &global);
    napi_create_int32(env, child->code, &argv[0]);
    napi_create_int32(env, child->signal, &argv[1]);
    napi_make_callback(env, child->async, global, callback, 3, argv, &result);
    napi_delete_reference(env, child->on_exit);
    napi_async_destroy(env, child->async);
    napi_close_handle_scope(env, scope);
    if (--st->known == 0) uv_unref((uv_handle_t *)&st->async);
    free(child);
    child = done_next;
  }
}

// A new watching thread, or NULL. The event loop's thread only.
static watcher_t *add_watcher(state_t *st) {
  if (st->n_watchers == MAX_WATCHERS) return NULL;
  watcher_t *w = &st->watchers[st->n_watchers];
  w->st = st;
  w->watched = 0;
  w->epfd = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  if (w->epfd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, st->stopfd, &ev) < 0) {
    if (w->epfd >= 0) close(w->epfd);
    return NULL;
  }
  // The thread takes no signal: they stay the event loop's.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int ok = pthread_create(&w->thread, NULL, watch, w) == 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (!ok) {
    close(w->epfd);
    return NULL;
  }
  st->n_watchers++;
  return w;
}

// The watcher for a child started from JavaScript: one with nothing to watch, else a new one, else the
// least busy. The event loop's thread only.
static watcher_t *idle_watcher(state_t *st) {
  watcher_t *best = &st->watchers[0];
  pthread_mutex_lock(&st->lock);
  for (int i = 0; i < st->n_watchers; i++)
    if (st->watchers[i].watched < best->watched) best = &st->watchers[i];
  long watched = best->watched;
  pthread_mutex_unlock(&st->lock);
  if (watched == 0) return best;
  watcher_t *added = add_watcher(st);
  return added ? added : best;
}

static state_t *state_of(napi_env env) {
  void *data = NULL;
  napi_get_instance_data(env, &data);
  return data;
}

static size_t count_strings(char **strings) {
  size_t n = 0;
  while (strings[n]) n++;
  return n;
}

// base + own as one envp; NULL when out of memory.
static char **join_env(env_base_t *base, char **own) {
  size_t n_own = count_strings(own);
  char **envp = malloc((base->n + n_own + 1) * sizeof(char *));
  if (!envp) return NULL;
  memcpy(envp, base->strings, base->n * sizeof(char *));
  memcpy(envp + base->n, own, (n_own + 1) * sizeof(char *));
  return envp;
}

// The optional base argument: NULL for undefined, a base, or an error thrown (returns 0).
static int base_arg(napi_env env, napi_value value, env_base_t **out) {
  *out = NULL;
  napi_valuetype type;
  napi_typeof(env, value, &type);
  if (type == napi_undefined || type == napi_null) return 1;
  bool tagged = false;
  void *data = NULL;
  if (type != napi_external || napi_check_object_type_tag(env, value, &ENV_BASE_TAG, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, value, &data) != napi_ok)
    return throw_type_error(env, "base must come from envBase()"), 0;
  *out = data;
  return 1;
}

static int command_args(napi_env env, napi_value *args, napi_value base_value, command_t *out) {
  out->body = NULL;
  out->body_len = 0;
  out->base = NULL;
  out->own = NULL;
  env_base_t *base;
  if (!base_arg(env, base_value, &base)) return 0;
  if (napi_get_buffer_info(env, args[3], &out->body, &out->body_len) != napi_ok) return throw_type_error(env, "body must be a Buffer"), 0;
  napi_valuetype callback_type;
  napi_typeof(env, args[4], &callback_type);
  if (callback_type != napi_function) return throw_type_error(env, "onExit must be a function"), 0;
  out->path = utf8(env, args[0]);
  out->argv = utf8_array(env, args[1]);
  out->envp = utf8_array(env, args[2]);
  if (base && out->envp) {
    out->own = out->envp;
    out->envp = join_env(base, out->own);
    if (!out->envp) {
      free_strings(out->own);
      out->own = NULL;
    } else {
      __atomic_add_fetch(&base->refs, 1, __ATOMIC_ACQ_REL);
      out->base = base;
    }
  }
  if (!out->path || !out->argv || !out->envp) {
    free_command(out);
    return throw_type_error(env, "path must be a string, argv and envp arrays of strings"), 0;
  }
  return 1;
}

static void finalize_base(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  release_base(data);
}

static napi_value EnvBase(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  char **strings = argc < 1 ? NULL : utf8_array(env, arg);
  if (!strings) return throw_type_error(env, "envBase(envp): envp must be an array of strings");
  env_base_t *b = malloc(sizeof *b);
  napi_value out;
  if (!b || napi_create_external(env, b, finalize_base, NULL, &out) != napi_ok) {
    free(b);
    free_strings(strings);
    return throw_type_error(env, "envBase: out of memory");
  }
  b->refs = 1;
  b->n = count_strings(strings);
  b->strings = strings;
  napi_type_tag_object(env, out, &ENV_BASE_TAG);
  return out;
}

static napi_value Spawn(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value args[6];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  if (argc < 5) return throw_type_error(env, "spawn(path, argv, envp, body, onExit[, base])");
  if (argc < 6) napi_get_undefined(env, &args[5]);
  command_t c;
  if (!command_args(env, args, args[5], &c)) return NULL;
  state_t *st = state_of(env);
  child_t *child;
  started_t r = launch(st, idle_watcher(st), c.path, c.argv, c.envp, c.body, c.body_len, &child);
  free_command(&c);
  if (child) {
    napi_ref on_exit;
    napi_create_reference(env, args[4], 1, &on_exit);
    adopt(st, child, on_exit);
  }
  return started_value(env, r);
}

static napi_value Arm(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value args[7];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  if (argc < 6) return throw_type_error(env, "arm(id, path, argv, envp, body, onExit[, base])");
  if (argc < 7) napi_get_undefined(env, &args[6]);
  int64_t id;
  if (napi_get_value_int64(env, args[0], &id) != napi_ok) return throw_type_error(env, "id must be a number");
  command_t c;
  if (!command_args(env, args + 1, args[6], &c)) return NULL;
  armed_t *a = calloc(1, sizeof *a);
  if (!a) {
    free_command(&c);
    return throw_type_error(env, "out of memory");
  }
  a->id = id;
  a->cmd = c;
  napi_create_reference(env, args[4], 1, &a->body_ref);
  napi_create_reference(env, args[5], 1, &a->on_exit);
  state_t *st = state_of(env);
  pthread_mutex_lock(&st->lock);
  if (st->tail) st->tail->next = a;
  else st->head = a;
  st->tail = a;
  pthread_mutex_unlock(&st->lock);
  return NULL;
}

static napi_value Disarm(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  int64_t id = -1;
  if (argc < 1 || napi_get_value_int64(env, arg, &id) != napi_ok) return throw_type_error(env, "disarm(id)");
  state_t *st = state_of(env);
  pthread_mutex_lock(&st->lock);
  armed_t *prev = NULL, *a = st->head;
  while (a && a->id != id) {
    prev = a;
    a = a->next;
  }
  if (a) {
    if (prev) prev->next = a->next;
    else st->head = a->next;
    if (st->tail == a) st->tail = prev;
  }
  pthread_mutex_unlock(&st->lock);
  if (a) free_armed(env, a);
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
  state_t *st = state_of(env);
  pthread_mutex_lock(&st->lock);
  for (child_t *c = st->children; c; c = c->next)
    if (c->pid == pid) c->successor_ok = 0;
  pthread_mutex_unlock(&st->lock);
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

// The environment is going away: stop the watching threads (stopfd stays readable: each one sees it).
// The state is not freed: the uv handle closes on the loop's own time, and a child still running is the
// process's to end.
static void stop_watching(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  state_t *st = data;
  uint64_t one = 1;
  if (write(st->stopfd, &one, sizeof one) == sizeof one)
    for (int i = 0; i < st->n_watchers; i++) pthread_join(st->watchers[i].thread, NULL);
  uv_close((uv_handle_t *)&st->async, NULL);
}

static napi_value Init(napi_env env, napi_value exports) {
  state_t *st = calloc(1, sizeof *st);
  uv_loop_t *loop = NULL;
  napi_get_uv_event_loop(env, &loop);
  int ok = st && loop && pthread_mutex_init(&st->lock, NULL) == 0;
  if (ok) {
    st->env = env;
    st->stopfd = eventfd(0, EFD_CLOEXEC);
    ok = st->stopfd >= 0 && uv_async_init(loop, &st->async, on_exits) == 0;
  }
  if (ok) {
    st->async.data = st;
    uv_unref((uv_handle_t *)&st->async);
    ok = add_watcher(st) != NULL;
    if (!ok) uv_close((uv_handle_t *)&st->async, NULL);
  }
  if (ok) ok = napi_set_instance_data(env, st, stop_watching, NULL) == napi_ok;
  if (!ok) return throw_type_error(env, "wq-spawn: cannot start its watching thread");
  napi_property_descriptor props[] = {
      {"spawn", NULL, Spawn, NULL, NULL, NULL, napi_default, NULL},
      {"arm", NULL, Arm, NULL, NULL, NULL, napi_default, NULL},
      {"disarm", NULL, Disarm, NULL, NULL, NULL, napi_default, NULL},
      {"noSuccessor", NULL, NoSuccessor, NULL, NULL, NULL, napi_default, NULL},
      {"available", NULL, Available, NULL, NULL, NULL, napi_default, NULL},
      {"envBase", NULL, EnvBase, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
