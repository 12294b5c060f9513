/* The pod sandbox process: sleeps, reaps children, exits on INT/TERM. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_term(int s) { (void)s; _exit(0); }
static void on_chld(int s) { (void)s; while (waitpid(-1, NULL, WNOHANG) > 0) {} }

int main(void) {
    struct sigaction t = {0}, c = {0};
    t.sa_handler = on_term;
    sigaction(SIGINT, &t, NULL);
    sigaction(SIGTERM, &t, NULL);
    c.sa_handler = on_chld;
    c.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &c, NULL);
    for (;;) pause();
}
