/*
 * pam_qsys: give a session started through a qsys exec daemon its job's extra group ID back.
 *
 * The exec daemon starts sshd -i, telnetd (login), in.rlogind or in.rshd inside the job, as a
 * child of the job's shepherd, with the job's extra group ID among its groups and in the
 * environment variable QSYS_ADD_GRP_ID. Those daemons call initgroups() for the user who logs
 * in, which drops the extra group, so the job loses track of the session's processes (usage,
 * qdel). They call pam_setcred() (auth stack) or pam_open_session() (session stack) after
 * initgroups(), which is where this module adds the group again.
 *
 * It acts only in a process with real uid 0 (the shepherd starts the daemon as root; a user
 * who runs a setuid program such as su has a real uid of their own), and only adds a group
 * inside its gid_range=LOW-HIGH argument (the cluster's gid_range). The group is the value of
 * QSYS_ADD_GRP_ID as secure_getenv() sees it (it hides the environment of setuid programs;
 * sshd and rshd keep their environment), else what an ancestor shows (login under telnetd or
 * rlogind: see gid_from_ancestors).
 *
 * Build: gcc -O2 -fPIC -shared -o pam_qsys.so pam_qsys.c -lpam
 * Use (e.g. /etc/pam.d/sshd, login, rsh, rlogin):
 *   auth     optional  pam_qsys.so gid_range=20000-20100
 *   session  optional  pam_qsys.so gid_range=20000-20100
 */
#define _GNU_SOURCE
#define PAM_SM_AUTH
#define PAM_SM_SESSION

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

static int parse_gid(const char *text, unsigned long *out)
{
    char *end = NULL;
    if (text == NULL || *text < '0' || *text > '9')
        return -1;
    errno = 0;
    *out = strtoul(text, &end, 10);
    if (errno != 0 || end == text || (*end != '\0' && *end != '-') || *out > (unsigned long)INT_MAX)
        return -1;
    return (int)(end - text);
}

static int gid_range(int argc, const char **argv, unsigned long *low, unsigned long *high)
{
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "gid_range=", 10) == 0) {
            const char *text = argv[i] + 10;
            int used = parse_gid(text, low);
            if (used < 0 || text[used] != '-' || parse_gid(text + used + 1, high) < 0)
                return -1;
            return *low <= *high ? 0 : -1;
        }
    }
    return -1;
}

/* QSYS_ADD_GRP_ID from the environment of process pid, if it holds a value in range. */
static int gid_from_environ(pid_t pid, unsigned long low, unsigned long high, unsigned long *gid)
{
    char path[64], buf[65536];
    snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1) {
        if (strncmp(buf + i, "QSYS_ADD_GRP_ID=", 16) == 0) {
            const char *text = buf + i + 16;
            int used = parse_gid(text, gid);
            return (used > 0 && text[used] == '\0' && *gid >= low && *gid <= high) ? 0 : -1;
        }
    }
    return -1;
}

/* The job's group as an ancestor of this process shows it: login under telnetd or rlogind
 * runs with a cleared environment and groups reset, but the daemon above it was started by
 * the exec daemon. An ancestor counts when it carries a group in the range (group lists are
 * kernel credentials only root can set) or, if its real uid is 0, when its environment holds
 * QSYS_ADD_GRP_ID (a set-user-ID program a user started with a forged environment has the
 * user's real uid). */
static int gid_from_ancestors(unsigned long low, unsigned long high, unsigned long *gid)
{
    pid_t pid = getppid();
    for (int depth = 0; depth < 8 && pid > 1; depth++) {
        char path[64], line[4096];
        pid_t parent = 0;
        long real_uid = -1;
        int found = 0;
        snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
        FILE *f = fopen(path, "re");
        if (f == NULL)
            return -1;
        while (fgets(line, sizeof line, f) != NULL) {
            if (strncmp(line, "PPid:", 5) == 0) {
                parent = (pid_t)strtol(line + 5, NULL, 10);
            } else if (strncmp(line, "Uid:", 4) == 0) {
                real_uid = strtol(line + 4, NULL, 10);
            } else if (strncmp(line, "Groups:", 7) == 0) {
                char *save = NULL;
                for (char *tok = strtok_r(line + 7, " \t\n", &save); tok != NULL && !found;
                     tok = strtok_r(NULL, " \t\n", &save)) {
                    unsigned long value;
                    int used = parse_gid(tok, &value);
                    if (used > 0 && tok[used] == '\0' && value >= low && value <= high) {
                        *gid = value;
                        found = 1;
                    }
                }
            }
        }
        fclose(f);
        if (found || (real_uid == 0 && gid_from_environ(pid, low, high, gid) == 0))
            return 0;
        pid = parent;
    }
    return -1;
}

static int add_job_group(pam_handle_t *pamh, int argc, const char **argv)
{
    unsigned long low, high, gid;
    const char *text = secure_getenv("QSYS_ADD_GRP_ID");

    if (getuid() != 0)
        return PAM_IGNORE;
    if (gid_range(argc, argv, &low, &high) != 0) {
        pam_syslog(pamh, LOG_ERR, "missing or bad gid_range=LOW-HIGH argument");
        return PAM_IGNORE;
    }
    if (text != NULL) {
        int used = parse_gid(text, &gid);
        if (used < 0 || text[used] != '\0' || gid < low || gid > high) {
            pam_syslog(pamh, LOG_WARNING, "ignoring QSYS_ADD_GRP_ID=%s (outside gid_range)", text);
            return PAM_IGNORE;
        }
    } else if (gid_from_ancestors(low, high, &gid) != 0) {
        return PAM_IGNORE;
    }
    int count = getgroups(0, NULL);
    if (count < 0)
        return PAM_IGNORE;
    gid_t *groups = calloc((size_t)count + 1, sizeof(gid_t));
    if (groups == NULL)
        return PAM_BUF_ERR;
    count = getgroups(count, groups);
    for (int i = 0; i < count; i++) {
        if (groups[i] == (gid_t)gid) {
            free(groups);
            return PAM_SUCCESS;
        }
    }
    groups[count] = (gid_t)gid;
    int rc = setgroups((size_t)count + 1, groups);
    free(groups);
    if (rc != 0) {
        pam_syslog(pamh, LOG_ERR, "setgroups with job group %lu failed: %m", gid);
        return PAM_SESSION_ERR;
    }
    return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)pamh; (void)flags; (void)argc; (void)argv;
    return PAM_IGNORE;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    if (flags & PAM_DELETE_CRED)
        return PAM_IGNORE;
    return add_job_group(pamh, argc, argv);
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)flags;
    return add_job_group(pamh, argc, argv);
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)pamh; (void)flags; (void)argc; (void)argv;
    return PAM_IGNORE;
}
