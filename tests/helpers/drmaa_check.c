/* A plain C program over libdrmaa.so (tests/integration/test_drmaa.py): prints what it saw
   as "key=value" lines. Usage: drmaa_check DIR (output files go to DIR). */
#include "drmaa.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char diag[DRMAA_ERROR_STRING_BUFFER];

#define CHECK(call)                                                                    \
    do {                                                                               \
        int rc_ = (call);                                                              \
        if (rc_ != DRMAA_ERRNO_SUCCESS) {                                              \
            printf("FAILED %s: %d %s\n", #call, rc_, diag);                            \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

/* Poll drmaa_job_ps until the job is in `wanted` (30 s at most); the last state seen. */
static int await_state(const char *job, int wanted) {
    int state = -1;
    time_t deadline = time(NULL) + 30;
    while (time(NULL) < deadline) {
        CHECK(drmaa_job_ps(job, &state, diag, sizeof diag));
        if (state == wanted)
            break;
        usleep(50000);
    }
    return state;
}

static void set(drmaa_job_template_t *jt, const char *name, const char *value) {
    CHECK(drmaa_set_attribute(jt, name, value, diag, sizeof diag));
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    char job[DRMAA_JOBNAME_BUFFER], out[DRMAA_JOBNAME_BUFFER], value[DRMAA_ATTR_BUFFER];
    char path[4096];
    unsigned major, minor;
    int rc, stat, flag, status, state;

    CHECK(drmaa_version(&major, &minor, diag, sizeof diag));
    printf("version=%u.%u\n", major, minor);
    drmaa_job_template_t *jt;
    rc = drmaa_allocate_job_template(&jt, diag, sizeof diag);
    printf("before_init=%d\n", rc);
    CHECK(drmaa_init(NULL, diag, sizeof diag));
    rc = drmaa_init(NULL, diag, sizeof diag);
    printf("init_twice=%d\n", rc);
    CHECK(drmaa_get_contact(value, sizeof value, diag, sizeof diag));
    printf("contact=%s\n", value);
    CHECK(drmaa_get_DRM_system(value, sizeof value, diag, sizeof diag));
    printf("drm_system=%s\n", value);

    CHECK(drmaa_allocate_job_template(&jt, diag, sizeof diag));
    rc = drmaa_set_attribute(jt, "drmaa_no_such_attribute", "x", diag, sizeof diag);
    printf("bad_attribute=%d\nbad_attribute_text=%s\n", rc, drmaa_strerror(rc));

    /* one job: exit status and resource usage */
    set(jt, DRMAA_REMOTE_COMMAND, "/bin/sh");
    const char *args[] = {"-c", "echo hello from $JOB_NAME; exit 7", NULL};
    CHECK(drmaa_set_vector_attribute(jt, DRMAA_V_ARGV, args, diag, sizeof diag));
    set(jt, DRMAA_JOB_NAME, "single");
    snprintf(path, sizeof path, ":%s/single.out", dir);
    set(jt, DRMAA_OUTPUT_PATH, path);
    set(jt, DRMAA_JOIN_FILES, "y");
    CHECK(drmaa_run_job(job, sizeof job, jt, diag, sizeof diag));
    drmaa_attr_values_t *rusage = NULL;
    CHECK(drmaa_wait(job, out, sizeof out, &stat, DRMAA_TIMEOUT_WAIT_FOREVER, &rusage, diag,
                     sizeof diag));
    CHECK(drmaa_wifexited(&flag, stat, diag, sizeof diag));
    CHECK(drmaa_wexitstatus(&status, stat, diag, sizeof diag));
    printf("single_id_same=%d\nsingle_exited=%d\nsingle_status=%d\n", strcmp(job, out) == 0, flag,
           status);
    int entries = 0;
    CHECK(drmaa_get_num_attr_values(rusage, &entries));
    printf("rusage_entries=%d\n", entries);
    while (drmaa_get_next_attr_value(rusage, value, sizeof value) == DRMAA_ERRNO_SUCCESS)
        if (strncmp(value, "exit_status=", 12) == 0 || strncmp(value, "ru_wallclock=", 13) == 0)
            printf("rusage_%s\n", value);
    printf("rusage_end=%d\n", drmaa_get_next_attr_value(rusage, value, sizeof value));
    drmaa_release_attr_values(rusage);
    rc = drmaa_wait(job, out, sizeof out, &stat, DRMAA_TIMEOUT_NO_WAIT, NULL, diag, sizeof diag);
    printf("wait_reaped=%d\n", rc);

    /* bulk jobs: $drmaa_incr_ph$, synchronize, job_ps DONE, then reaping */
    const char *bulk_args[] = {"-c", "echo task $SGE_TASK_ID", NULL};
    CHECK(drmaa_set_vector_attribute(jt, DRMAA_V_ARGV, bulk_args, diag, sizeof diag));
    set(jt, DRMAA_JOB_NAME, "bulk");
    snprintf(path, sizeof path, ":%s/bulk.$drmaa_incr_ph$", dir);
    set(jt, DRMAA_OUTPUT_PATH, path);
    drmaa_job_ids_t *ids;
    CHECK(drmaa_run_bulk_jobs(&ids, jt, 1, 5, 2, diag, sizeof diag));
    char bulk[3][DRMAA_JOBNAME_BUFFER];
    int n = 0;
    while (n < 3 && drmaa_get_next_job_id(ids, bulk[n], sizeof bulk[n]) == DRMAA_ERRNO_SUCCESS)
        n++;
    drmaa_release_job_ids(ids);
    printf("bulk_count=%d\n", n);
    const char *all[] = {DRMAA_JOB_IDS_SESSION_ALL, NULL};
    CHECK(drmaa_synchronize(all, 120, 0, diag, sizeof diag));
    for (int i = 0; i < n; i++) {
        CHECK(drmaa_job_ps(bulk[i], &state, diag, sizeof diag));
        CHECK(drmaa_wait(bulk[i], out, sizeof out, &stat, DRMAA_TIMEOUT_NO_WAIT, NULL, diag,
                         sizeof diag));
        CHECK(drmaa_wifexited(&flag, stat, diag, sizeof diag));
        printf("bulk_task=%s ps=%d exited=%d\n", out, state, flag);
    }

    /* control: held at submission, released, suspended, resumed, terminated */
    const char *sleep_args[] = {"-c", "sleep 120", NULL};
    CHECK(drmaa_set_vector_attribute(jt, DRMAA_V_ARGV, sleep_args, diag, sizeof diag));
    set(jt, DRMAA_JOB_NAME, "control");
    snprintf(path, sizeof path, ":%s/control.out", dir);
    set(jt, DRMAA_OUTPUT_PATH, path);
    set(jt, DRMAA_JS_STATE, DRMAA_SUBMISSION_STATE_HOLD);
    CHECK(drmaa_run_job(job, sizeof job, jt, diag, sizeof diag));
    CHECK(drmaa_job_ps(job, &state, diag, sizeof diag));
    printf("held_ps=%d\n", state);
    rc = drmaa_wait(job, out, sizeof out, &stat, 1, NULL, diag, sizeof diag);
    printf("wait_timeout=%d\n", rc);
    CHECK(drmaa_control(job, DRMAA_CONTROL_RELEASE, diag, sizeof diag));
    printf("running_ps=%d\n", await_state(job, DRMAA_PS_RUNNING));
    CHECK(drmaa_control(job, DRMAA_CONTROL_SUSPEND, diag, sizeof diag));
    printf("suspended_ps=%d\n", await_state(job, DRMAA_PS_USER_SUSPENDED));
    rc = drmaa_control(job, DRMAA_CONTROL_SUSPEND, diag, sizeof diag);
    printf("suspend_twice=%d\n", rc);
    CHECK(drmaa_control(job, DRMAA_CONTROL_RESUME, diag, sizeof diag));
    printf("resumed_ps=%d\n", await_state(job, DRMAA_PS_RUNNING));
    CHECK(drmaa_control(DRMAA_JOB_IDS_SESSION_ALL, DRMAA_CONTROL_TERMINATE, diag, sizeof diag));
    CHECK(drmaa_wait(DRMAA_JOB_IDS_SESSION_ANY, out, sizeof out, &stat, 60, NULL, diag,
                     sizeof diag));
    CHECK(drmaa_wifaborted(&flag, stat, diag, sizeof diag));
    printf("terminated_same=%d\nterminated_aborted=%d\n", strcmp(job, out) == 0, flag);
    rc = drmaa_wait(DRMAA_JOB_IDS_SESSION_ANY, out, sizeof out, &stat, 0, NULL, diag, sizeof diag);
    printf("wait_any_none_left=%d\n", rc);

    /* a signal */
    const char *kill_args[] = {"-c", "kill -TERM $$", NULL};
    CHECK(drmaa_set_vector_attribute(jt, DRMAA_V_ARGV, kill_args, diag, sizeof diag));
    set(jt, DRMAA_JS_STATE, DRMAA_SUBMISSION_STATE_ACTIVE);
    CHECK(drmaa_run_job(job, sizeof job, jt, diag, sizeof diag));
    CHECK(drmaa_wait(job, out, sizeof out, &stat, DRMAA_TIMEOUT_WAIT_FOREVER, NULL, diag,
                     sizeof diag));
    CHECK(drmaa_wifsignaled(&flag, stat, diag, sizeof diag));
    CHECK(drmaa_wtermsig(value, DRMAA_SIGNAL_BUFFER, stat, diag, sizeof diag));
    printf("signaled=%d\nsignal=%s\n", flag, value);

    /* errors */
    rc = drmaa_job_ps("abc", &state, diag, sizeof diag);
    printf("ps_bad_id=%d\nps_bad_id_diag=%s\n", rc, diag);
    rc = drmaa_job_ps("999999", &state, diag, sizeof diag);
    printf("ps_unknown=%d\n", rc);
    printf("strerror_no_more=%s\n", drmaa_strerror(DRMAA_ERRNO_NO_MORE_ELEMENTS));
    printf("strerror_out_of_range=%s\n", drmaa_strerror(DRMAA_NO_ERRNO) ? "text" : "null");

    CHECK(drmaa_delete_job_template(jt, diag, sizeof diag));
    CHECK(drmaa_exit(diag, sizeof diag));
    rc = drmaa_exit(diag, sizeof diag);
    printf("exit_twice=%d\n", rc);
    return 0;
}
