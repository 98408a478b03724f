/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/hooks.c: OCI hooks: each runs with the container's state JSON on stdin, bounded by
 * its timeout; a failing hook fails the step that ran it. */
#include "runtime/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int run_one(const struct zl_oci_hook *h, const char *json, const char *kind,
                   struct zl_err *err)
{
    int in[2];
    if (pipe2(in, O_CLOEXEC) < 0)
        return zl_err_sys(err, errno, "pipe");
    pid_t pid = fork();
    if (pid < 0) {
        close(in[0]);
        close(in[1]);
        return zl_err_sys(err, errno, "fork a %s hook", kind);
    }
    if (pid == 0) {
        dup2(in[0], 0);
        char *const def_args[] = {h->path, NULL};
        execve(h->path, h->args && h->args[0] ? h->args : def_args,
               h->env ? h->env : (char *[]){NULL});
        _exit(127);
    }
    close(in[0]);
    /* the hook may not read its stdin: a short write is not an error */
    signal(SIGPIPE, SIG_IGN);
    if (write(in[1], json, strlen(json)) < 0) {
    }
    close(in[1]);
    int status = 0, waited = 0, limit = h->timeout > 0 ? h->timeout * 1000 : -1;
    for (;;) {
        pid_t r = waitpid(pid, &status, limit < 0 ? 0 : WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR))
            break;
        if (r == 0) {
            if (waited >= limit) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                return zl_err_set(err, ZL_EINVAL, "%s hook %s timed out after %d s", kind, h->path,
                                  h->timeout);
            }
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
            waited += 10;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFSIGNALED(status))
        return zl_err_set(err, ZL_EINVAL, "%s hook %s was killed by signal %d", kind, h->path,
                          WTERMSIG(status));
    return zl_err_set(err, ZL_EINVAL, "%s hook %s exited with status %d", kind, h->path,
                      WEXITSTATUS(status));
}

int zl_runtime__hooks_run(const struct zl_oci_hooks *h, const char *state_json, const char *kind,
                          struct zl_err *err)
{
    for (size_t i = 0; i < h->n; i++)
        if (run_one(&h->v[i], state_json, kind, err) < 0)
            return -1;
    return 0;
}
