/*
 * peer_process.c - runs the real peers of the Check suites (see
 * peer_process.h): in a directory of the test's, output to a log file, and
 * killed with the test process (PR_SET_PDEATHSIG) if it dies first.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "peer_process.h"
#include "util.h"

pid_t peer_spawn(const char *dir, const char *log_name, char *const argv[])
{
    pid_t pid = fork();

    if (pid < 0)
        msg_fatal("fork: %s", strerror(errno));
    if (pid == 0) {
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
        int fd = chdir(dir) < 0 ? -1 : open(log_name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(127);
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

void peer_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}
