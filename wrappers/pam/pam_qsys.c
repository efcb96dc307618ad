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
 * It acts only when every one of these holds, and does nothing (PAM_IGNORE) otherwise:
 *   - the process runs with real uid 0 (the shepherd starts the daemon as root; a user who
 *     runs a setuid program such as su has a real uid of their own),
 *   - secure_getenv() sees QSYS_ADD_GRP_ID (it hides the environment of setuid programs),
 *   - the value is a plain decimal group ID inside the module's gid_range=LOW-HIGH argument
 *     (the cluster's gid_range), so no other group can ever be added this way.
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

static int add_job_group(pam_handle_t *pamh, int argc, const char **argv)
{
    unsigned long low, high, gid;
    const char *text = secure_getenv("QSYS_ADD_GRP_ID");

    if (text == NULL || getuid() != 0)
        return PAM_IGNORE;
    if (gid_range(argc, argv, &low, &high) != 0) {
        pam_syslog(pamh, LOG_ERR, "missing or bad gid_range=LOW-HIGH argument");
        return PAM_IGNORE;
    }
    int used = parse_gid(text, &gid);
    if (used < 0 || text[used] != '\0' || gid < low || gid > high) {
        pam_syslog(pamh, LOG_WARNING, "ignoring QSYS_ADD_GRP_ID=%s (outside gid_range)", text);
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
