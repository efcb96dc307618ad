/*
 * libdrmaa.c - qsys's DRMAA 1.0 library: a thin shim over a helper process.
 *
 * drmaa_init starts "python -m qsys.drmaa.helper 3" (the interpreter from the
 * QSYS_DRMAA_PYTHON environment variable, else the one found at build time) detached from
 * the program, with one end of a control socket pair as its fd 3. Every other call is one
 * request and one reply over a connection of the calling thread's own: connections are
 * socket pairs whose far end is passed to the helper over the control socket (SCM_RIGHTS)
 * and kept in a pool afterwards, so a thread blocked in drmaa_wait does not hold up the
 * others. Messages are lists of strings (see qsys/drmaa/wire.py). The helper holds the
 * session; this file holds only connections, string vectors and the decoding of stat.
 * Without an embedded interpreter the library loads into any program, Python ones too.
 */
#define _GNU_SOURCE
#include "drmaa.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef QSYS_DRMAA_PYTHON
#define QSYS_DRMAA_PYTHON "/opt/qsys/venv/bin/python"
#endif
#ifndef QSYS_VERSION
#define QSYS_VERSION "0.1.0"
#endif

#define POOL_MAX 32
#define MAX_ITEMS (1u << 22)
#define MAX_ITEM_BYTES (1u << 26)

/* the helper's stat encoding (qsys/drmaa/session.py) */
#define STAT_EXITED (1 << 16)
#define STAT_SIGNALED (1 << 17)
#define STAT_COREDUMP (1 << 18)
#define STAT_ABORTED (1 << 19)

extern char **environ;

/* ------------------------------------------------------------------ string vectors */

typedef struct {
    char **items;
    size_t count;
    size_t next;
} vector_t;

struct drmaa_attr_names_s { vector_t v; };
struct drmaa_attr_values_s { vector_t v; };
struct drmaa_job_ids_s { vector_t v; };
struct drmaa_job_template_s { long id; unsigned generation; };

static void vector_free(vector_t *v) {
    for (size_t i = 0; i < v->count; i++)
        free(v->items[i]);
    free(v->items);
    v->items = NULL;
    v->count = v->next = 0;
}

static int vector_next(vector_t *v, char *value, size_t value_len) {
    if (v == NULL)
        return DRMAA_ERRNO_INVALID_ARGUMENT;
    if (v->next >= v->count)
        return DRMAA_ERRNO_NO_MORE_ELEMENTS;
    if (value != NULL && value_len > 0)
        snprintf(value, value_len, "%s", v->items[v->next]);
    v->next++;
    return DRMAA_ERRNO_SUCCESS;
}

static int vector_size(vector_t *v, int *size) {
    if (v == NULL || size == NULL)
        return DRMAA_ERRNO_INVALID_ARGUMENT;
    *size = (int)v->count;
    return DRMAA_ERRNO_SUCCESS;
}

int drmaa_get_next_attr_name(drmaa_attr_names_t *values, char *value, size_t value_len) {
    return vector_next(values ? &values->v : NULL, value, value_len);
}
int drmaa_get_next_attr_value(drmaa_attr_values_t *values, char *value, size_t value_len) {
    return vector_next(values ? &values->v : NULL, value, value_len);
}
int drmaa_get_next_job_id(drmaa_job_ids_t *values, char *value, size_t value_len) {
    return vector_next(values ? &values->v : NULL, value, value_len);
}
int drmaa_get_num_attr_names(drmaa_attr_names_t *values, int *size) {
    return vector_size(values ? &values->v : NULL, size);
}
int drmaa_get_num_attr_values(drmaa_attr_values_t *values, int *size) {
    return vector_size(values ? &values->v : NULL, size);
}
int drmaa_get_num_job_ids(drmaa_job_ids_t *values, int *size) {
    return vector_size(values ? &values->v : NULL, size);
}
void drmaa_release_attr_names(drmaa_attr_names_t *values) {
    if (values) { vector_free(&values->v); free(values); }
}
void drmaa_release_attr_values(drmaa_attr_values_t *values) {
    if (values) { vector_free(&values->v); free(values); }
}
void drmaa_release_job_ids(drmaa_job_ids_t *values) {
    if (values) { vector_free(&values->v); free(values); }
}

/* ------------------------------------------------------------------ error texts */

static const char *const error_texts[] = {
    "Routine returned normally with success.",
    "Unexpected or internal DRMAA error like memory allocation, system call failure, etc.",
    "Could not contact DRM system",
    "The specified request is not processed successfully due to authorization failure.",
    "The input value for an argument is invalid.",
    "No active session",
    "failed allocating memory",
    "Initialization failed due to invalid contact string.",
    "DRMAA could not use the default contact string to connect to DRM system.",
    "No default contact string was provided or selected.",
    "Initialization failed due to failure to init DRM system.",
    "Initialization failed due to existing DRMAA session.",
    "DRM system disengagement failed.",
    "The format for the job attribute value is invalid.",
    "The value for the job attribute is invalid.",
    "The value of this attribute is conflicting with a previously set attributes.",
    "Could not pass job now to DRM system. A retry may succeed however (saturation).",
    "The DRM system rejected the job. The job will never be accepted due to DRM "
    "configuration or job template settings.",
    "The job specified by the 'jobid' does not exist.",
    "The job has not been suspended. The RESUME request will not be processed.",
    "The job has not been running, and it cannot be suspended.",
    "The job cannot be moved to a HOLD state.",
    "The job is not in a HOLD state.",
    "time-out condition",
    "no usage information was returned for the completed job",
    "no more elements are contained in the opaque string vector",
};

const char *drmaa_strerror(int drmaa_errno) {
    if (drmaa_errno < 0 || drmaa_errno >= DRMAA_NO_ERRNO)
        return NULL;
    return error_texts[drmaa_errno];
}

/* The code, with its diagnosis (the standard's text when there is none). */
static int fail(char *diag, size_t diag_len, int code, const char *text) {
    if (diag != NULL && diag_len > 0)
        snprintf(diag, diag_len, "%s", (text && *text) ? text : drmaa_strerror(code));
    return code;
}

/* ------------------------------------------------------------------ messages */

typedef struct {
    char **items;
    size_t count;
} message_t;

static void message_free(message_t *m) {
    for (size_t i = 0; i < m->count; i++)
        free(m->items[i]);
    free(m->items);
    m->items = NULL;
    m->count = 0;
}

/* Send (sending != 0) or receive exactly size bytes; -1 on an error or end of file. */
static int transfer(int fd, void *data, size_t size, int sending) {
    char *p = data;
    while (size > 0) {
        ssize_t n = sending ? send(fd, p, size, MSG_NOSIGNAL) : recv(fd, p, size, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        size -= (size_t)n;
    }
    return 0;
}

static void put_u32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
}

static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int send_message(int fd, const char *const *items, size_t count) {
    size_t size = 4;
    for (size_t i = 0; i < count; i++)
        size += 4 + strlen(items[i]);
    unsigned char *buf = malloc(size), *p = buf;
    if (buf == NULL)
        return -1;
    put_u32(p, (uint32_t)count);
    p += 4;
    for (size_t i = 0; i < count; i++) {
        size_t n = strlen(items[i]);
        put_u32(p, (uint32_t)n);
        memcpy(p + 4, items[i], n);
        p += 4 + n;
    }
    int rc = transfer(fd, buf, size, 1);
    free(buf);
    return rc;
}

static int read_message(int fd, message_t *m) {
    unsigned char head[4];
    m->items = NULL;
    m->count = 0;
    if (transfer(fd, head, 4, 0) < 0)
        return -1;
    uint32_t count = get_u32(head);
    if (count > MAX_ITEMS || (m->items = calloc(count ? count : 1, sizeof(char *))) == NULL)
        return -1;
    for (uint32_t i = 0; i < count; i++) {
        if (transfer(fd, head, 4, 0) < 0)
            goto broken;
        uint32_t n = get_u32(head);
        if (n > MAX_ITEM_BYTES || (m->items[i] = malloc(n + 1)) == NULL)
            goto broken;
        m->count = i + 1;
        if (n && transfer(fd, m->items[i], n, 0) < 0)
            goto broken;
        m->items[i][n] = '\0';
    }
    return 0;
broken:
    message_free(m);
    return -1;
}

/* ------------------------------------------------------------------ the session */

static pthread_mutex_t session_lock = PTHREAD_MUTEX_INITIALIZER;
static int session_active = 0;
static unsigned session_generation = 0;
static int control_fd = -1;
static int pool[POOL_MAX];
static int pool_count = 0;

/* Pass one end of a new socket pair to the helper (with session_lock held). */
static int new_connection(void) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    char byte = 'c';
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = control.buf, .msg_controllen = sizeof(control.buf)};
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &sv[1], sizeof(int));
    ssize_t sent;
    do
        sent = sendmsg(control_fd, &msg, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    close(sv[1]);
    if (sent != 1) {
        close(sv[0]);
        return -1;
    }
    return sv[0];
}

static int acquire(unsigned *generation) {
    int fd = -1;
    pthread_mutex_lock(&session_lock);
    if (session_active)
        fd = pool_count > 0 ? pool[--pool_count] : new_connection();
    *generation = session_generation;
    pthread_mutex_unlock(&session_lock);
    return fd;
}

static void release(int fd, unsigned generation, int reusable) {
    pthread_mutex_lock(&session_lock);
    if (reusable && session_active && generation == session_generation && pool_count < POOL_MAX)
        pool[pool_count++] = fd;
    else
        close(fd);
    pthread_mutex_unlock(&session_lock);
}

static int session_is(unsigned generation) {
    pthread_mutex_lock(&session_lock);
    int same = session_active && generation == session_generation;
    pthread_mutex_unlock(&session_lock);
    return same;
}

/* One request, its reply in *reply (items 2.. are the results); the DRMAA error code. */
static int call(const char *const *request, size_t count, message_t *reply, char *diag,
                size_t diag_len) {
    unsigned generation;
    reply->items = NULL;
    reply->count = 0;
    int fd = acquire(&generation);
    if (fd < 0) {
        if (!session_is(generation))
            return fail(diag, diag_len, DRMAA_ERRNO_NO_ACTIVE_SESSION, NULL);
        return fail(diag, diag_len, DRMAA_ERRNO_INTERNAL_ERROR,
                    "cannot reach the qsys DRMAA helper process");
    }
    if (send_message(fd, request, count) < 0 || read_message(fd, reply) < 0) {
        release(fd, generation, 0);
        if (!session_is(generation))
            return fail(diag, diag_len, DRMAA_ERRNO_NO_ACTIVE_SESSION, NULL);
        return fail(diag, diag_len, DRMAA_ERRNO_INTERNAL_ERROR,
                    "lost the connection to the qsys DRMAA helper process");
    }
    release(fd, generation, 1);
    if (reply->count < 2) {
        message_free(reply);
        return fail(diag, diag_len, DRMAA_ERRNO_INTERNAL_ERROR,
                    "malformed reply from the qsys DRMAA helper process");
    }
    int code = atoi(reply->items[0]);
    if (code != DRMAA_ERRNO_SUCCESS)
        fail(diag, diag_len, code, reply->items[1]);
    return code;
}

/* A call whose results do not matter beyond its code. */
static int call_simple(const char *const *request, size_t count, char *diag, size_t diag_len) {
    message_t reply;
    int code = call(request, count, &reply, diag, diag_len);
    message_free(&reply);
    return code;
}

/* Move the results of a reply (from item `first`) into a fresh string vector. */
static int take_results(message_t *reply, size_t first, vector_t *v) {
    size_t count = reply->count > first ? reply->count - first : 0;
    v->items = calloc(count ? count : 1, sizeof(char *));
    if (v->items == NULL)
        return -1;
    for (size_t i = 0; i < count; i++) {
        v->items[i] = reply->items[first + i];
        reply->items[first + i] = NULL;
    }
    v->count = count;
    v->next = 0;
    return 0;
}

static void close_from(int lowest) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)lowest, ~0u, 0) == 0)
        return;
#endif
    long top = sysconf(_SC_OPEN_MAX);
    for (long fd = lowest; fd < (top > 0 && top < 65536 ? top : 65536); fd++)
        close((int)fd);
}

/* Start the helper, detached (double fork, own session), fd 3 its end of the control
   socket; stdin and stdout /dev/null. Returns our end of the control socket. */
static int start_helper(char *diag, size_t diag_len) {
    const char *python = getenv("QSYS_DRMAA_PYTHON");
    if (python == NULL || *python == '\0')
        python = QSYS_DRMAA_PYTHON;
    char *const argv[] = {(char *)python, "-m", "qsys.drmaa.helper", "3", NULL};
    /* the program's environment, less a PYTHONHOME meant for another interpreter; built
       before fork: the child of a threaded program may only make async-signal-safe calls */
    size_t nenv = 0;
    while (environ && environ[nenv])
        nenv++;
    char **envp = malloc((nenv + 1) * sizeof(char *));
    if (envp == NULL)
        return fail(diag, diag_len, DRMAA_ERRNO_NO_MEMORY, NULL), -1;
    size_t kept = 0;
    for (size_t i = 0; i < nenv; i++)
        if (strncmp(environ[i], "PYTHONHOME=", 11) != 0)
            envp[kept++] = environ[i];
    envp[kept] = NULL;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        free(envp);
        return fail(diag, diag_len, DRMAA_ERRNO_DRMS_INIT_FAILED, strerror(errno)), -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        free(envp);
        close(sv[0]);
        close(sv[1]);
        return fail(diag, diag_len, DRMAA_ERRNO_DRMS_INIT_FAILED, strerror(errno)), -1;
    }
    if (pid == 0) {
        if (fork() != 0)
            _exit(0);
        setsid();
        if (sv[1] == 3)
            fcntl(3, F_SETFD, 0);
        else if (dup2(sv[1], 3) < 0)
            _exit(127);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
        }
        close_from(4);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execve(python, argv, envp);
        _exit(127);
    }
    free(envp);
    close(sv[1]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return sv[0];
}

static void end_session(void) {
    pthread_mutex_lock(&session_lock);
    session_active = 0;
    session_generation++;
    while (pool_count > 0)
        close(pool[--pool_count]);
    if (control_fd >= 0)
        close(control_fd);
    control_fd = -1;
    pthread_mutex_unlock(&session_lock);
}

int drmaa_init(const char *contact, char *error_diagnosis, size_t error_diag_len) {
    pthread_mutex_lock(&session_lock);
    if (session_active) {
        pthread_mutex_unlock(&session_lock);
        return fail(error_diagnosis, error_diag_len, DRMAA_ERRNO_ALREADY_ACTIVE_SESSION, NULL);
    }
    int fd = start_helper(error_diagnosis, error_diag_len);
    if (fd < 0) {
        pthread_mutex_unlock(&session_lock);
        return DRMAA_ERRNO_DRMS_INIT_FAILED;
    }
    control_fd = fd;
    session_active = 1;
    session_generation++;
    pthread_mutex_unlock(&session_lock);

    const char *request[] = {"init", contact ? contact : ""};
    message_t reply;
    int code = call(request, 2, &reply, error_diagnosis, error_diag_len);
    if (code == DRMAA_ERRNO_INTERNAL_ERROR && reply.count == 0) {
        const char *python = getenv("QSYS_DRMAA_PYTHON");
        char text[PATH_MAX + 128];
        snprintf(text, sizeof text, "the qsys DRMAA helper did not start: is qsys installed "
                 "for %s? (QSYS_DRMAA_PYTHON)", python && *python ? python : QSYS_DRMAA_PYTHON);
        code = fail(error_diagnosis, error_diag_len, DRMAA_ERRNO_DRMS_INIT_FAILED, text);
    }
    message_free(&reply);
    if (code != DRMAA_ERRNO_SUCCESS)
        end_session();
    return code;
}

int drmaa_exit(char *error_diagnosis, size_t error_diag_len) {
    pthread_mutex_lock(&session_lock);
    int active = session_active;
    pthread_mutex_unlock(&session_lock);
    if (!active)
        return fail(error_diagnosis, error_diag_len, DRMAA_ERRNO_NO_ACTIVE_SESSION, NULL);
    end_session(); /* the helper ends when its control socket closes; the jobs run on */
    return DRMAA_ERRNO_SUCCESS;
}

/* ------------------------------------------------------------------ job templates */

/* The template's id as text in id[32], if the template is of this session and the other
   arguments are given (args_given). */
static int template_ok(const drmaa_job_template_t *jt, int args_given, char *id, char *diag,
                       size_t diag_len) {
    if (jt == NULL || !args_given)
        return fail(diag, diag_len, DRMAA_ERRNO_INVALID_ARGUMENT, NULL);
    if (!session_is(jt->generation))
        return fail(diag, diag_len, DRMAA_ERRNO_NO_ACTIVE_SESSION, NULL);
    snprintf(id, 32, "%ld", jt->id);
    return DRMAA_ERRNO_SUCCESS;
}

int drmaa_allocate_job_template(drmaa_job_template_t **jt, char *error_diagnosis,
                                size_t error_diag_len) {
    if (jt == NULL)
        return fail(error_diagnosis, error_diag_len, DRMAA_ERRNO_INVALID_ARGUMENT, NULL);
    unsigned generation;
    pthread_mutex_lock(&session_lock);
    generation = session_generation;
    pthread_mutex_unlock(&session_lock);
    const char *request[] = {"jt_new"};
    message_t reply;
    int code = call(request, 1, &reply, error_diagnosis, error_diag_len);
    if (code == DRMAA_ERRNO_SUCCESS) {
        *jt = malloc(sizeof **jt);
        if (*jt == NULL) {
            code = fail(error_diagnosis, error_diag_len, DRMAA_ERRNO_NO_MEMORY, NULL);
        } else {
            (*jt)->id = atol(reply.items[2]);
            (*jt)->generation = generation;
        }
    }
    message_free(&reply);
    return code;
}

int drmaa_delete_job_template(drmaa_job_template_t *jt, char *error_diagnosis,
                              size_t error_diag_len) {
    if (jt == NULL)
        return fail(error_diagnosis, error_diag_len, DRMAA_ERRNO_INVALID_ARGUMENT, NULL);
    if (session_is(jt->generation)) {
        char id[32];
        snprintf(id, sizeof id, "%ld", jt->id);
        const char *request[] = {"jt_delete", id};
        call_simple(request, 2, NULL, 0);
    }
    free(jt);
    return DRMAA_ERRNO_SUCCESS;
}

int drmaa_set_attribute(drmaa_job_template_t *jt, const char *name, const char *value,
                        char *error_diagnosis, size_t error_diag_len) {
    char id[32];
    int code = template_ok(jt, name != NULL && value != NULL, id, error_diagnosis, error_diag_len);
    if (code != DRMAA_ERRNO_SUCCESS)
        return code;
    const char *request[] = {"jt_set", id, name, value};
    return call_simple(request, 4, error_diagnosis, error_diag_len);
}

int drmaa_get_attribute(drmaa_job_template_t *jt, const char *name, char *value,
                        size_t value_len, char *error_diagnosis, size_t error_diag_len) {
    char id[32];
    int code = template_ok(jt, name != NULL && value != NULL, id, error_diagnosis, error_diag_len);
    if (code != DRMAA_ERRNO_SUCCESS)
        return code;
    const char *request[] = {"jt_get", id, name};
    message_t reply;
    code = call(request, 3, &reply, error_diagnosis, error_diag_len);
    if (code == DRMAA_ERRNO_SUCCESS && value_len > 0)
        snprintf(value, value_len, "%s", reply.count > 2 ? reply.items[2] : "");
    message_free(&reply);
    return code;
}

int drmaa_set_vector_attribute(drmaa_job_template_t *jt, const char *name,
                               const char *value[], char *error_diagnosis,
                               size_t error_diag_len) {
    char id[32];
    int code = template_ok(jt, name != NULL && value != NULL, id, error_diagnosis, error_diag_len);
    if (code != DRMAA_ERRNO_SUCCESS)
        return code;
    size_t count = 0;
    while (value[count] != NULL)
        count++;
    const char **request = malloc((count + 3) * sizeof(char *));
    if (request == NULL)
        return fail(error_diagnosis, error_diag_len, DRMAA_ERRNO_NO_MEMORY, NULL);
    request[0] = "jt_set_vector";
    request[1] = id;
    request[2] = name;
    memcpy(request + 3, value, count * sizeof(char *));
    code = call_simple(request, count + 3, error_diagnosis, error_diag_len);
    free(request);
    return code;
}

/* A call whose results become a string vector of the given kind. */
#define RESULTS_INTO(type, out, request, count, first, diag, diag_len)                      \
    do {                                                                                  \
        message_t reply_;                                                                 \
        code = call(request, count, &reply_, diag, diag_len);                             \
        if (code == DRMAA_ERRNO_SUCCESS) {                                                \
            type *made_ = calloc(1, sizeof(type));                                        \
            if (made_ == NULL || take_results(&reply_, first, &made_->v) < 0) {           \
                free(made_);                                                              \
                code = fail(diag, diag_len, DRMAA_ERRNO_NO_MEMORY, NULL);                 \
            } else {                                                                      \
                *(out) = made_;                                                           \
            }                                                                             \
        }                                                                                 \
        message_free(&reply_);                                                            \
    } while (0)

int drmaa_get_vector_attribute(drmaa_job_template_t *jt, const char *name,
                               drmaa_attr_values_t **values, char *error_diagnosis,
                               size_t error_diag_len) {
    char id[32];
    int code = template_ok(jt, name != NULL && values != NULL, id, error_diagnosis, error_diag_len);
    if (code != DRMAA_ERRNO_SUCCESS)
        return code;
    const char *request[] = {"jt_get_vector", id, name};
    RESULTS_INTO(drmaa_attr_values_t, values, request, 3, 2, error_diagnosis, error_diag_len);
    return code;
}

static int attribute_names(const char *operation, drmaa_attr_names_t **values, char *diag,
                           size_t diag_len) {
    int code;
    if (values == NULL)
        return fail(diag, diag_len, DRMAA_ERRNO_INVALID_ARGUMENT, NULL);
    const char *request[] = {operation};
    RESULTS_INTO(drmaa_attr_names_t, values, request, 1, 2, diag, diag_len);
    return code;
}

int drmaa_get_attribute_names(drmaa_attr_names_t **values, char *error_diagnosis,
                              size_t error_diag_len) {
    return attribute_names("names", values, error_diagnosis, error_diag_len);
}

int drmaa_get_vector_attribute_names(drmaa_attr_names_t **values, char *error_diagnosis,
                                     size_t error_diag_len) {
    return attribute_names("vector_names", values, error_diagnosis, error_diag_len);
}

/* ------------------------------------------------------------------ jobs */

/* A submit request: the fixed words, then the caller's directory and environment. */
static const char **submit_request(const char *const *words, size_t nwords, char *cwd,
                                   size_t *count) {
    size_t nenv = 0;
    while (environ && environ[nenv])
        nenv++;
    const char **request = malloc((nwords + 1 + nenv) * sizeof(char *));
    if (request == NULL)
        return NULL;
    memcpy(request, words, nwords * sizeof(char *));
    if (getcwd(cwd, PATH_MAX) == NULL)
        snprintf(cwd, PATH_MAX, "/");
    request[nwords] = cwd;
    for (size_t i = 0; i < nenv; i++)
        request[nwords + 1 + i] = environ[i];
    *count = nwords + 1 + nenv;
    return request;
}

int drmaa_run_job(char *job_id, size_t job_id_len, const drmaa_job_template_t *jt,
                  char *error_diagnosis, size_t error_diag_len) {
    char id[32], cwd[PATH_MAX];
    int code = template_ok(jt, 1, id, error_diagnosis, error_diag_len);
    if (code != DRMAA_ERRNO_SUCCESS)
        return code;
    const char *words[] = {"run", id};
    size_t count;
    const char **request = submit_request(words, 2, cwd, &count);
    if (request == NULL)
        return fail(error_diagnosis, error_diag_len, DRMAA_ERRNO_NO_MEMORY, NULL);
    message_t reply;
    code = call(request, count, &reply, error_diagnosis, error_diag_len);
    free(request);
    if (code == DRMAA_ERRNO_SUCCESS && job_id != NULL && job_id_len > 0)
        snprintf(job_id, job_id_len, "%s", reply.count > 2 ? reply.items[2] : "");
    message_free(&reply);
    return code;
}

int drmaa_run_bulk_jobs(drmaa_job_ids_t **jobids, const drmaa_job_template_t *jt, int start,
                        int end, int incr, char *error_diagnosis, size_t error_diag_len) {
    char id[32], first[16], last[16], step[16], cwd[PATH_MAX];
    int code = template_ok(jt, jobids != NULL, id, error_diagnosis, error_diag_len);
    if (code != DRMAA_ERRNO_SUCCESS)
        return code;
    snprintf(first, sizeof first, "%d", start);
    snprintf(last, sizeof last, "%d", end);
    snprintf(step, sizeof step, "%d", incr);
    const char *words[] = {"run_bulk", id, first, last, step};
    size_t count;
    const char **request = submit_request(words, 5, cwd, &count);
    if (request == NULL)
        return fail(error_diagnosis, error_diag_len, DRMAA_ERRNO_NO_MEMORY, NULL);
    RESULTS_INTO(drmaa_job_ids_t, jobids, request, count, 2, error_diagnosis, error_diag_len);
    free(request);
    return code;
}

int drmaa_control(const char *jobid, int action, char *error_diagnosis, size_t error_diag_len) {
    if (jobid == NULL)
        return fail(error_diagnosis, error_diag_len, DRMAA_ERRNO_INVALID_ARGUMENT, NULL);
    char act[16];
    snprintf(act, sizeof act, "%d", action);
    const char *request[] = {"control", jobid, act};
    return call_simple(request, 3, error_diagnosis, error_diag_len);
}

int drmaa_synchronize(const char *job_ids[], signed long timeout, int dispose,
                      char *error_diagnosis, size_t error_diag_len) {
    if (job_ids == NULL)
        return fail(error_diagnosis, error_diag_len, DRMAA_ERRNO_INVALID_ARGUMENT, NULL);
    size_t count = 0;
    while (job_ids[count] != NULL)
        count++;
    const char **request = malloc((count + 3) * sizeof(char *));
    if (request == NULL)
        return fail(error_diagnosis, error_diag_len, DRMAA_ERRNO_NO_MEMORY, NULL);
    char wait[32];
    snprintf(wait, sizeof wait, "%ld", timeout);
    request[0] = "sync";
    request[1] = wait;
    request[2] = dispose ? "1" : "0";
    memcpy(request + 3, job_ids, count * sizeof(char *));
    int code = call_simple(request, count + 3, error_diagnosis, error_diag_len);
    free(request);
    return code;
}

int drmaa_wait(const char *job_id, char *job_id_out, size_t job_id_out_len, int *stat,
               signed long timeout, drmaa_attr_values_t **rusage, char *error_diagnosis,
               size_t error_diag_len) {
    if (job_id == NULL)
        return fail(error_diagnosis, error_diag_len, DRMAA_ERRNO_INVALID_ARGUMENT, NULL);
    char wait[32];
    snprintf(wait, sizeof wait, "%ld", timeout);
    const char *request[] = {"wait", job_id, wait};
    message_t reply;
    int code = call(request, 3, &reply, error_diagnosis, error_diag_len);
    if (rusage != NULL)
        *rusage = NULL;
    if ((code == DRMAA_ERRNO_SUCCESS || code == DRMAA_ERRNO_NO_RUSAGE) && reply.count >= 4) {
        if (job_id_out != NULL && job_id_out_len > 0)
            snprintf(job_id_out, job_id_out_len, "%s", reply.items[2]);
        if (stat != NULL)
            *stat = atoi(reply.items[3]);
        if (code == DRMAA_ERRNO_SUCCESS && rusage != NULL) {
            drmaa_attr_values_t *made = calloc(1, sizeof *made);
            if (made == NULL || take_results(&reply, 4, &made->v) < 0) {
                free(made);
                code = fail(error_diagnosis, error_diag_len, DRMAA_ERRNO_NO_MEMORY, NULL);
            } else {
                *rusage = made;
            }
        }
    }
    message_free(&reply);
    return code;
}

int drmaa_job_ps(const char *job_id, int *remote_ps, char *error_diagnosis,
                 size_t error_diag_len) {
    if (job_id == NULL || remote_ps == NULL)
        return fail(error_diagnosis, error_diag_len, DRMAA_ERRNO_INVALID_ARGUMENT, NULL);
    const char *request[] = {"job_ps", job_id};
    message_t reply;
    int code = call(request, 2, &reply, error_diagnosis, error_diag_len);
    if (code == DRMAA_ERRNO_SUCCESS)
        *remote_ps = reply.count > 2 ? atoi(reply.items[2]) : DRMAA_PS_UNDETERMINED;
    message_free(&reply);
    return code;
}

/* ------------------------------------------------------------------ stat */

static int stat_flag(int *out, int value, char *diag, size_t diag_len) {
    if (out == NULL)
        return fail(diag, diag_len, DRMAA_ERRNO_INVALID_ARGUMENT, NULL);
    *out = value;
    return DRMAA_ERRNO_SUCCESS;
}

int drmaa_wifexited(int *exited, int stat, char *error_diagnosis, size_t error_diag_len) {
    return stat_flag(exited, (stat & STAT_EXITED) != 0, error_diagnosis, error_diag_len);
}

int drmaa_wexitstatus(int *exit_status, int stat, char *error_diagnosis, size_t error_diag_len) {
    return stat_flag(exit_status, (stat & STAT_EXITED) ? (stat & 0xff) : 0, error_diagnosis,
                     error_diag_len);
}

int drmaa_wifsignaled(int *signaled, int stat, char *error_diagnosis, size_t error_diag_len) {
    return stat_flag(signaled, (stat & STAT_SIGNALED) != 0, error_diagnosis, error_diag_len);
}

int drmaa_wcoredump(int *core_dumped, int stat, char *error_diagnosis, size_t error_diag_len) {
    return stat_flag(core_dumped, (stat & STAT_COREDUMP) != 0, error_diagnosis, error_diag_len);
}

int drmaa_wifaborted(int *aborted, int stat, char *error_diagnosis, size_t error_diag_len) {
    return stat_flag(aborted, (stat & STAT_ABORTED) != 0, error_diagnosis, error_diag_len);
}

int drmaa_wtermsig(char *signal, size_t signal_len, int stat, char *error_diagnosis,
                   size_t error_diag_len) {
    if (signal == NULL || signal_len == 0)
        return fail(error_diagnosis, error_diag_len, DRMAA_ERRNO_INVALID_ARGUMENT, NULL);
    int number = (stat & STAT_SIGNALED) ? (stat >> 8) & 0xff : 0;
    const char *name = number ? sigabbrev_np(number) : NULL;
    if (name != NULL)
        snprintf(signal, signal_len, "SIG%s", name);
    else
        snprintf(signal, signal_len, "%s", number ? "SIGUNKNOWN" : "");
    return DRMAA_ERRNO_SUCCESS;
}

/* ------------------------------------------------------------------ about the library */

int drmaa_get_contact(char *contact, size_t contact_len, char *error_diagnosis,
                      size_t error_diag_len) {
    if (contact == NULL || contact_len == 0)
        return fail(error_diagnosis, error_diag_len, DRMAA_ERRNO_INVALID_ARGUMENT, NULL);
    pthread_mutex_lock(&session_lock);
    int active = session_active;
    pthread_mutex_unlock(&session_lock);
    if (!active) { /* before drmaa_init: the default contact, which is empty */
        contact[0] = '\0';
        return DRMAA_ERRNO_SUCCESS;
    }
    const char *request[] = {"contact"};
    message_t reply;
    int code = call(request, 1, &reply, error_diagnosis, error_diag_len);
    if (code == DRMAA_ERRNO_SUCCESS)
        snprintf(contact, contact_len, "%s", reply.count > 2 ? reply.items[2] : "");
    message_free(&reply);
    return code;
}

int drmaa_version(unsigned int *major, unsigned int *minor, char *error_diagnosis,
                  size_t error_diag_len) {
    if (major == NULL || minor == NULL)
        return fail(error_diagnosis, error_diag_len, DRMAA_ERRNO_INVALID_ARGUMENT, NULL);
    *major = 1;
    *minor = 0;
    return DRMAA_ERRNO_SUCCESS;
}

static int about(char *out, size_t out_len, char *diag, size_t diag_len) {
    if (out == NULL || out_len == 0)
        return fail(diag, diag_len, DRMAA_ERRNO_INVALID_ARGUMENT, NULL);
    snprintf(out, out_len, "qsys %s", QSYS_VERSION);
    return DRMAA_ERRNO_SUCCESS;
}

int drmaa_get_DRM_system(char *drm_system, size_t drm_system_len, char *error_diagnosis,
                         size_t error_diag_len) {
    return about(drm_system, drm_system_len, error_diagnosis, error_diag_len);
}

int drmaa_get_DRMAA_implementation(char *drmaa_impl, size_t drmaa_impl_len,
                                   char *error_diagnosis, size_t error_diag_len) {
    return about(drmaa_impl, drmaa_impl_len, error_diagnosis, error_diag_len);
}
