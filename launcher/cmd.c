/* cmd.c: the launcher's command line.  Open MPI's mpirun and MPICH's
 * Hydra mpiexec take different flags for the same things, and each
 * rejects the other's (Hydra stops at --enable-recovery), so keelrun asks
 * the launcher which it is (`--version`) and speaks its dialect:
 *
 *   what keel needs          Open MPI                 Hydra
 *   a lost rank goes on      --enable-recovery        -disable-auto-cleanup
 *   no binding (keel binds)  --bind-to none           -bind-to none
 *   more ranks than slots    --oversubscribe          (wraps by itself)
 *   a variable to all ranks  -x NAME=VALUE            -genv NAME VALUE
 *   hosts                    --host, --hostfile F     -hosts h:K,...
 *   running as root          --allow-run-as-root      (allowed) */
#include "launcher.h"

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* What `launcher --version` prints (first 4 KiB), in buf; -1 with errno
 * when it cannot run. */
static int version_text(const char *launcher, char *buf, size_t n)
{
  int fd[2], st;
  pid_t pid;
  posix_spawn_file_actions_t fa;
  char *argv[] = {(char *)launcher, "--version", NULL};
  if (pipe(fd))
    return -1;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fd[1], 2);
  posix_spawn_file_actions_addclose(&fa, fd[0]);
  int rc = posix_spawnp(&pid, launcher, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fd[1]);
  if (rc) {
    close(fd[0]);
    errno = rc;
    return -1;
  }
  size_t used = 0;
  ssize_t k;
  while (used + 1 < n && (k = read(fd[0], buf + used, n - 1 - used)) != 0) {
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0)
      break;
    used += (size_t)k;
  }
  buf[used] = '\0';
  close(fd[0]);
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
    ;
  return 0;
}

int keelrun_family_of(const char *launcher, keelrun_family *f, char *err,
                      size_t n)
{
  char text[4096];
  if (version_text(launcher, text, sizeof text)) {
    snprintf(err, n, "cannot start %s: %s", launcher, strerror(errno));
    return -1;
  }
  if (strstr(text, "Open MPI") || strstr(text, "OpenRTE")) {
    *f = KEELRUN_OPENMPI;
  } else if (strstr(text, "HYDRA") || strstr(text, "Hydra")) {
    *f = KEELRUN_HYDRA;
  } else {
    char *nl = strchr(text, '\n');
    if (nl)
      *nl = '\0';
    snprintf(err, n, "cannot tell which MPI %s belongs to: its --version "
             "names neither Open MPI nor MPICH's Hydra ('%.60s')",
             launcher, text);
    return -2;
  }
  return 0;
}

const char *keelrun_family_name(keelrun_family f)
{
  return f == KEELRUN_OPENMPI ? "Open MPI" : "MPICH (Hydra)";
}

int keelrun_cmd_add(keelrun_cmd *c, const char *s)
{
  if (c->n >= KEELRUN_MAX_ARGS - 1)
    return -1;
  c->v[c->n++] = s;
  c->v[c->n] = NULL;
  return 0;
}

static int add2(keelrun_cmd *c, const char *a, const char *b)
{
  return keelrun_cmd_add(c, a) || keelrun_cmd_add(c, b) ? -1 : 0;
}

int keelrun_cmd_start(keelrun_cmd *c, const char *launcher, int ranks,
                      bool oversubscribe)
{
  static char nbuf[16];
  snprintf(nbuf, sizeof nbuf, "%d", ranks);
  int rc = add2(c, launcher, "-n") || keelrun_cmd_add(c, nbuf);
  if (c->family == KEELRUN_HYDRA)
    return rc || keelrun_cmd_add(c, "-disable-auto-cleanup") ||
           add2(c, "-bind-to", "none") ? -1 : 0;
  rc = rc || keelrun_cmd_add(c, "--enable-recovery") ||
       add2(c, "--bind-to", "none");
  if (geteuid() == 0)
    rc = rc || keelrun_cmd_add(c, "--allow-run-as-root");
  if (oversubscribe)
    rc = rc || keelrun_cmd_add(c, "--oversubscribe");
  return rc ? -1 : 0;
}

/* "NAME=VALUE" kept for the command's life. */
static const char *joined(const char *name, const char *value)
{
  size_t n = strlen(name) + strlen(value) + 2;
  char *s = malloc(n);
  if (s)
    snprintf(s, n, "%s=%s", name, value);
  return s;
}

int keelrun_cmd_env(keelrun_cmd *c, const char *name, const char *value)
{
  setenv(name, value, 1); /* for a local rank whatever the launcher does */
  if (c->family == KEELRUN_HYDRA) { /* copies: value may be the caller's */
    const char *n = strdup(name), *v = strdup(value);
    return n && v && !keelrun_cmd_add(c, "-genv") && !add2(c, n, v) ? 0 : -1;
  }
  const char *kv = joined(name, value);
  return kv ? add2(c, "-x", kv) : -1;
}

int keelrun_cmd_export(keelrun_cmd *c, const char *spec)
{
  const char *eq = strchr(spec, '=');
  if (c->family == KEELRUN_OPENMPI)
    return add2(c, "-x", spec);
  if (!eq)
    return add2(c, "-genvlist", spec);
  char *name = strndup(spec, (size_t)(eq - spec));
  return name ? keelrun_cmd_env(c, name, eq + 1) : -1;
}

int keelrun_cmd_hosts(keelrun_cmd *c, const char *hosts)
{
  return add2(c, c->family == KEELRUN_HYDRA ? "-hosts" : "--host", hosts);
}

int keelrun_cmd_hostfile(keelrun_cmd *c, const char *path, char *err,
                         size_t n)
{
  if (c->family == KEELRUN_OPENMPI)
    return add2(c, "--hostfile", path);
  static char list[8192];
  if (keelrun_hostfile(path, list, sizeof list, err, n) < 0)
    return -1;
  return add2(c, "-hosts", list);
}

/* An argument as a POSIX shell reads it back: bare when safe, else in
 * single quotes. */
static void print_word(const char *s)
{
  if (*s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789_-+=/.,:@%") == strlen(s)) {
    fputs(s, stdout);
    return;
  }
  putchar('\'');
  for (; *s; s++)
    if (*s == '\'')
      fputs("'\\''", stdout);
    else
      putchar(*s);
  putchar('\'');
}

void keelrun_cmd_print(const keelrun_cmd *c)
{
  for (int i = 0; i < c->n; i++) {
    print_word(c->v[i]);
    putchar(i + 1 < c->n ? ' ' : '\n');
  }
}
