/*
 * qsys-shepherd: the lean shepherd of a plain batch task (see execd/lean.py).
 *
 * The exec daemon decides everything (identity, environment, command, output paths, limits)
 * and writes it to the task directory's plan file; this program only carries it out, so a
 * trivial job costs an exec of a small static binary instead of a forked Python shepherd.
 * It writes the same files as execd/shepherd.py (shepherd.pid, tmpdir, job.pid, trace, error,
 * usage.json, exit.json) with the same content, so the daemon, its restart and its reaper
 * cannot tell the two apart.
 *
 *   qsys-shepherd TASK_DIR
 *   qsys-shepherd -            a spare: the task directory's path comes on stdin (execd.lean.Spares)
 *
 * The plan file holds NUL-terminated "key=value" records; list keys repeat (arg, env, ...).
 * Failure codes are execd/shepherd.py's.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BEFORE_JOB_READ 1
#define BEFORE_JOB 11
#define NO_OUTPUT 26
#define NO_CWD 28
#define H_RT 37

#define PLAN "plan"
#define GIB (1024.0 * 1024.0 * 1024.0)
#define FIRST_SAMPLE 0.5
#define SAMPLE_SECONDS 2.0
#define MAX_LIST 4096

/* ------------------------------------------------------------ the plan */

struct list {
    char **items;
    int n;
};

struct plan {
    const char *task, *user, *cwd, *exe, *in, *out, *err, *tmpdir;
    long uid, gid, extra_gid; /* extra_gid: sample the usage of its carriers (-1: none) */
    int do_switch, search, joined, has_groups;
    struct list args, env, fallback, chown, groups;
    double h_rt, s_rt; /* < 0: none */
    struct { int resource; long long soft, hard; } limits[4];
    int nlimits;
};

static char task_dir[4096];

static void add(struct list *l, char *value)
{
    if (l->n % 64 == 0) {
        l->items = realloc(l->items, sizeof(char *) * (l->n + 65));
        if (l->items == NULL)
            abort();
    }
    l->items[l->n++] = value;
    l->items[l->n] = NULL;
}

/* execve wants a NULL-terminated array, also of an empty list */
static void terminate(struct list *l)
{
    if (l->items == NULL)
        add(l, NULL), l->n = 0;
}

static char *read_all(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    size_t cap = 65536, used = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (used == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
        ssize_t got = read(fd, buf + used, cap - used);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        used += (size_t)got;
    }
    close(fd);
    buf[used] = '\0';
    if (len)
        *len = used;
    return buf;
}

static int read_plan(const char *path, struct plan *p)
{
    size_t len;
    char *data = read_all(path, &len);
    if (data == NULL)
        return -1;
    memset(p, 0, sizeof(*p));
    p->h_rt = p->s_rt = -1;
    p->extra_gid = -1;
    p->in = "/dev/null";
    for (char *rec = data, *next; rec < data + len; rec = next) {
        next = rec + strlen(rec) + 1;
        char *value = strchr(rec, '=');
        if (value == NULL)
            continue;
        *value++ = '\0';
        if (!strcmp(rec, "task")) p->task = value;
        else if (!strcmp(rec, "user")) p->user = value;
        else if (!strcmp(rec, "uid")) { p->uid = atol(value); p->do_switch = 1; }
        else if (!strcmp(rec, "gid")) p->gid = atol(value);
        else if (!strcmp(rec, "group")) { add(&p->groups, value); p->has_groups = 1; }
        else if (!strcmp(rec, "cwd")) p->cwd = value;
        else if (!strcmp(rec, "exe")) p->exe = value;
        else if (!strcmp(rec, "arg")) add(&p->args, value);
        else if (!strcmp(rec, "env")) add(&p->env, value);
        else if (!strcmp(rec, "search")) p->search = 1;
        else if (!strcmp(rec, "fallback")) add(&p->fallback, value);
        else if (!strcmp(rec, "stdin")) p->in = value;
        else if (!strcmp(rec, "stdout")) p->out = value;
        else if (!strcmp(rec, "stderr")) p->err = value;
        else if (!strcmp(rec, "joined")) p->joined = 1;
        else if (!strcmp(rec, "tmpdir")) p->tmpdir = value;
        else if (!strcmp(rec, "chown")) add(&p->chown, value);
        else if (!strcmp(rec, "sample")) p->extra_gid = atol(value);
        else if (!strcmp(rec, "h_rt")) p->h_rt = atof(value);
        else if (!strcmp(rec, "s_rt")) p->s_rt = atof(value);
        else if (!strcmp(rec, "rlimit") && p->nlimits < 4) {
            /* "as:SOFT:HARD" or "cpu:SOFT:HARD", -1 for unlimited */
            char *soft = strchr(value, ':');
            char *hard = soft ? strchr(soft + 1, ':') : NULL;
            if (hard == NULL)
                continue;
            p->limits[p->nlimits].resource = !strncmp(value, "as:", 3) ? RLIMIT_AS : RLIMIT_CPU;
            p->limits[p->nlimits].soft = atoll(soft + 1);
            p->limits[p->nlimits].hard = atoll(hard + 1);
            p->nlimits++;
        }
    }
    if (p->cwd == NULL || p->exe == NULL || p->out == NULL || p->args.n == 0)
        return -1;
    if (p->err == NULL)
        p->err = p->out;
    if (p->user == NULL)
        p->user = "";
    if (p->task == NULL)
        p->task = "";
    terminate(&p->args);
    terminate(&p->env);
    terminate(&p->fallback);
    return 0;
}

/* ------------------------------------------------------------ small helpers */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *path_of(const char *name)
{
    static char buf[4][4200];
    static int next;
    char *out = buf[next++ % 4];
    snprintf(out, sizeof(buf[0]), "%s/%s", task_dir, name);
    return out;
}

/* close_range(2) (musl 1.2.3 has no wrapper), one close at a time on an older kernel */
static void close_from(unsigned int low, unsigned int high)
{
    if (low > high || syscall(SYS_close_range, low, high, 0) == 0)
        return;
    for (unsigned int fd = low; fd <= high && fd < 65536; fd++)
        close((int)fd);
}

static void write_fd(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t done = write(fd, data, len);
        if (done < 0 && errno == EINTR)
            continue;
        if (done <= 0)
            return;
        data += done;
        len -= (size_t)done;
    }
}

/* execd.spool.write_atomic: a reader sees the old content or the whole new one (mode 0600 at
   creation: a umask only takes bits away). No file of ours needs O_CLOEXEC: each is closed before
   the next fork (musl pays an fcntl for it) */
static int write_atomic(const char *name, const char *data, size_t len)
{
    char tmp[4300];
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp%d", task_dir, name, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    write_fd(fd, data, len);
    close(fd);
    return rename(tmp, path_of(name));
}

static long long read_number(const char *path, int *found)
{
    char buf[64];
    int fd = open(path, O_RDONLY);
    *found = 0;
    if (fd < 0)
        return 0;
    ssize_t got = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (got <= 0)
        return 0;
    buf[got] = '\0';
    char *end;
    long long value = strtoll(buf, &end, 10);
    *found = end != buf;  /* as TaskDir._number: a number, not just a file */
    return value;
}

/* field 22 of /proc/<pid>/stat: with the pid it names one process (execd.spool) */
static long long proc_start_time(void)
{
    char *stat = read_all("/proc/self/stat", NULL);
    long long start = 0;
    char *p = stat ? strrchr(stat, ')') : NULL;
    if (p != NULL) {
        p += 2;
        for (int field = 0; field < 19 && p; field++)
            p = strchr(p + 1, ' ');
        if (p)
            start = atoll(p + 1);
    }
    free(stat);
    return start;
}

/* ------------------------------------------------------------ JSON as Python's json.dumps */

struct buf {
    char *data;
    size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->data = realloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

static void putf(struct buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* a string as json.dumps writes it (ensure_ascii): UTF-8 decoded, an invalid byte as the
   surrogate Python's surrogateescape gives it */
static void put_string(struct buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    puts_(b, "\"");
    while (*p) {
        unsigned int c = *p, need = 0;
        if (c >= 0x80) {
            unsigned int min = 0;
            if ((c & 0xe0) == 0xc0) need = 1, c &= 0x1f, min = 0x80;
            else if ((c & 0xf0) == 0xe0) need = 2, c &= 0x0f, min = 0x800;
            else if ((c & 0xf8) == 0xf0) need = 3, c &= 0x07, min = 0x10000;
            unsigned int i;
            for (i = 1; i <= need && (p[i] & 0xc0) == 0x80; i++)
                c = (c << 6) | (p[i] & 0x3f);
            if (need == 0 || i <= need || c < min || c > 0x10ffff || (c >= 0xd800 && c < 0xe000)) {
                putf(b, "\\u%04x", 0xdc00 + *p);
                p++;
                continue;
            }
            p += need + 1;
            if (c >= 0x10000) {
                c -= 0x10000;
                putf(b, "\\u%04x\\u%04x", 0xd800 + (c >> 10), 0xdc00 + (c & 0x3ff));
            } else {
                putf(b, "\\u%04x", c);
            }
            continue;
        }
        p++;
        switch (c) {
        case '"': puts_(b, "\\\""); break;
        case '\\': puts_(b, "\\\\"); break;
        case '\n': puts_(b, "\\n"); break;
        case '\r': puts_(b, "\\r"); break;
        case '\t': puts_(b, "\\t"); break;
        case '\b': puts_(b, "\\b"); break;
        case '\f': puts_(b, "\\f"); break;
        default:
            if (c < 0x20) putf(b, "\\u%04x", c);
            else { char ch = (char)c; put(b, &ch, 1); }
        }
    }
    puts_(b, "\"");
}

/* repr(float): the shortest digits that read back as the same double, fixed notation for
   decimal exponents -4 to 15, else d.ddde+XX */
static void put_float(struct buf *b, double x)
{
    char digits[40], out[64];
    int prec;
    for (prec = 0; prec < 17; prec++) {
        snprintf(digits, sizeof(digits), "%.*e", prec, x);
        if (strtod(digits, NULL) == x)
            break;
    }
    int neg = digits[0] == '-';
    char *d = digits + neg, *e = strchr(d, 'e');
    int exp = atoi(e + 1);
    char mant[24];
    int n = 0;
    for (char *q = d; q < e; q++)
        if (*q != '.')
            mant[n++] = *q;
    while (n > 1 && mant[n - 1] == '0')
        n--;
    mant[n] = '\0';
    char *o = out;
    if (neg)
        *o++ = '-';
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            o += sprintf(o, "0.");
            for (int i = -1; i > exp; i--)
                *o++ = '0';
            o += sprintf(o, "%s", mant);
        } else {
            for (int i = 0; i <= exp; i++)
                *o++ = i < n ? mant[i] : '0';
            *o++ = '.';
            if (n > exp + 1)
                o += sprintf(o, "%s", mant + exp + 1);
            else
                *o++ = '0';
        }
    } else {
        *o++ = mant[0];
        if (n > 1)
            o += sprintf(o, ".%s", mant + 1);
        o += sprintf(o, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
    *o = '\0';
    puts_(b, out);
}

/* Python's round(x, 6): correctly rounded through the decimal string */
static double round_to(double x, int places)
{
    char text[400];
    snprintf(text, sizeof(text), "%.*f", places, x);
    return strtod(text, NULL);
}

/* ------------------------------------------------------------ the report (execd/usage.py) */

enum kind { INT, FLOAT, BOOL, STR };

struct field {
    const char *name;
    enum kind kind;
    long long i;
    double f;
    const char *s;
};

#define NFIELDS 34
static const char *RUSAGE_FIELDS[] = {
    "ru_maxrss", "ru_ixrss", "ru_ismrss", "ru_idrss", "ru_isrss", "ru_minflt", "ru_majflt",
    "ru_nswap", "ru_inblock", "ru_oublock", "ru_msgsnd", "ru_msgrcv", "ru_nsignals",
    "ru_nvcsw", "ru_nivcsw",
};

struct report {
    struct field f[NFIELDS];
    int n;
};

static struct field *field(struct report *r, const char *name, enum kind kind)
{
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->f[i].name, name)) {
            r->f[i].kind = kind;
            return &r->f[i];
        }
    struct field *f = &r->f[r->n++];
    memset(f, 0, sizeof(*f));
    f->name = name;
    f->kind = kind;
    return f;
}

static void set_int(struct report *r, const char *name, long long v) { field(r, name, INT)->i = v; }
static void set_bool(struct report *r, const char *name, int v) { field(r, name, BOOL)->i = v; }
static void set_float(struct report *r, const char *name, double v) { field(r, name, FLOAT)->f = v; }
static void set_str(struct report *r, const char *name, const char *v) { field(r, name, STR)->s = v; }

/* usage.empty_report */
static void empty_report(struct report *r, double start, double end)
{
    r->n = 0;
    set_int(r, "exit_status", 0);
    set_int(r, "signal", 0);
    set_int(r, "failed", 0);
    set_float(r, "start_time", start);
    set_float(r, "end_time", end);
    set_float(r, "ru_wallclock", start != 0.0 ? fmax(0.0, end - start) : 0.0);
    set_float(r, "ru_utime", 0.0);
    set_float(r, "ru_stime", 0.0);
    set_float(r, "cpu", 0.0);
    set_float(r, "mem", 0.0);
    set_float(r, "io", 0.0);
    set_float(r, "iow", 0.0);
    set_int(r, "maxvmem", 0);
    set_str(r, "error", "");
    set_bool(r, "rerun", 0);
    set_bool(r, "error_state", 0);
    set_bool(r, "killed", 0);
    for (size_t i = 0; i < sizeof(RUSAGE_FIELDS) / sizeof(*RUSAGE_FIELDS); i++)
        set_int(r, RUSAGE_FIELDS[i], 0);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct field *)a)->name, ((const struct field *)b)->name);
}

/* json.dumps(report, sort_keys=True) */
static void dump(struct report *r, struct buf *b)
{
    qsort(r->f, (size_t)r->n, sizeof(struct field), by_name);
    puts_(b, "{");
    for (int i = 0; i < r->n; i++) {
        struct field *f = &r->f[i];
        if (i)
            puts_(b, ", ");
        put_string(b, f->name);
        puts_(b, ": ");
        switch (f->kind) {
        case INT: putf(b, "%lld", f->i); break;
        case FLOAT: put_float(b, f->f); break;
        case BOOL: puts_(b, f->i ? "true" : "false"); break;
        case STR: put_string(b, f->s); break;
        }
    }
    puts_(b, "}");
}

static double seconds(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec * 0.000001; }

/* usage.report_from_wait */
static void report_from_wait(struct report *r, int status, struct rusage *ru, double start, double end)
{
    empty_report(r, start, end);
    int exit_status = 0, sig = 0;
    if (WIFSIGNALED(status)) {
        sig = WTERMSIG(status);
        exit_status = 128 + sig;
    } else if (WIFEXITED(status)) {
        exit_status = WEXITSTATUS(status);
    }
    set_int(r, "exit_status", exit_status);
    set_int(r, "signal", sig);
    double utime = seconds(ru->ru_utime), stime = seconds(ru->ru_stime);
    set_float(r, "ru_utime", round_to(utime, 6));
    set_float(r, "ru_stime", round_to(stime, 6));
    long long values[] = {
        ru->ru_maxrss, ru->ru_ixrss, ru->ru_ixrss, ru->ru_idrss, ru->ru_isrss, ru->ru_minflt,
        ru->ru_majflt, ru->ru_nswap, ru->ru_inblock, ru->ru_oublock, ru->ru_msgsnd, ru->ru_msgrcv,
        ru->ru_nsignals, ru->ru_nvcsw, ru->ru_nivcsw,
    };
    for (size_t i = 0; i < sizeof(RUSAGE_FIELDS) / sizeof(*RUSAGE_FIELDS); i++)
        set_int(r, RUSAGE_FIELDS[i], values[i]);
    long long peak = (long long)ru->ru_maxrss * 1024;
    double cpu = round_to(utime + stime, 6);
    set_float(r, "cpu", cpu);
    set_int(r, "maxvmem", peak);
    set_float(r, "mem", round_to((double)peak / GIB * cpu, 6));
    set_float(r, "io", round_to((double)(ru->ru_inblock + ru->ru_oublock) * 512 / GIB, 6));
    set_bool(r, "rerun", sig == 0 && exit_status == 99);
    set_bool(r, "error_state", sig == 0 && exit_status == 100);
}

/* ------------------------------------------------------------ /proc */

static long ticks;

/* rchar + wchar of a process and its reaped children (procs.read_io); 0 when unreadable */
static long long read_io(const char *path)
{
    char *data = read_all(path, NULL);
    long long total = 0;
    for (char *line = data; line && *line;) {
        if (!strncmp(line, "rchar:", 6) || !strncmp(line, "wchar:", 6))
            total += atoll(line + 6);
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    free(data);
    return total;
}

/* the pids a /proc/<pid>/task/<tid>/children file lists, appended to out[n..max) */
static int add_pids(const char *path, pid_t *out, int n, int max)
{
    char *data = read_all(path, NULL);
    for (char *p = data; p && *p && n < max;) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        out[n++] = (pid_t)pid;
        p = end;
    }
    free(data);
    return n;
}

/* every descendant of this process (breadth first; our own children from our one thread) */
static int descendants(pid_t *out, int max)
{
    char path[320];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)getpid(), (int)getpid());
    int n = add_pids(path, out, 0, max);
    for (int i = 0; i < n && n < max; i++) {
        snprintf(path, sizeof(path), "/proc/%d/task", (int)out[i]);
        DIR *dir = opendir(path);
        if (dir == NULL)
            continue;
        struct dirent *ent;
        while ((ent = readdir(dir)) != NULL && n < max) {
            if (ent->d_name[0] == '.')
                continue;
            char kids[320];
            snprintf(kids, sizeof(kids), "/proc/%d/task/%s/children", (int)out[i], ent->d_name);
            n = add_pids(kids, out, n, max);
        }
        closedir(dir);
    }
    return n;
}

static int carries(pid_t pid, long gid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    char *data = read_all(path, NULL);
    char *line = data ? strstr(data, "\nGroups:") : NULL;
    int found = 0;
    if (line != NULL) {
        char *p = line + 8;
        for (;;) {
            char *end;
            long g = strtol(p, &end, 10);
            if (end == p)
                break;
            if (g == gid) {
                found = 1;
                break;
            }
            p = end;
        }
    }
    free(data);
    return found;
}

/* one sample of one process (procs.Proc); (pid, start) names it even after its pid is reused */
struct proc {
    int pid, ppid;
    long long start, vsize, io;
    double own_cpu, kids_cpu, iow;
    int parent_carries;
};

static int read_proc(int pid, struct proc *p)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    char *stat = read_all(path, NULL);
    char *q = stat ? strrchr(stat, ')') : NULL;
    long long f[48] = {0};  /* f[i] is field i + 3 of stat (procs.read_proc's fields[i]) */
    int n = 0;
    if (q != NULL && q[1] == ' ') {
        for (char *tok = strtok(q + 2, " "); tok && n < 48; tok = strtok(NULL, " "))
            f[n++] = atoll(tok);
    }
    free(stat);
    if (n < 22)
        return -1;
    p->pid = pid;
    p->ppid = (int)f[1];
    p->start = f[19];
    p->own_cpu = (double)(f[11] + f[12]) / (double)ticks;
    p->kids_cpu = (double)(f[13] + f[14]) / (double)ticks;
    p->vsize = f[20];
    p->iow = n > 39 ? (double)f[39] / (double)ticks : 0.0;
    snprintf(path, sizeof(path), "/proc/%d/io", pid);
    p->io = read_io(path);
    p->parent_carries = 0;
    return 0;
}

/* the live processes carrying gid (procs.carriers: a scan of the process table) */
static int carriers(long gid, pid_t *out, int max)
{
    DIR *dir = opendir("/proc");
    int n = 0;
    struct dirent *ent;
    while (dir && (ent = readdir(dir)) != NULL && n < max)
        if (ent->d_name[0] >= '1' && ent->d_name[0] <= '9' && carries(atoi(ent->d_name), gid))
            out[n++] = atoi(ent->d_name);
    if (dir)
        closedir(dir);
    return n;
}

/* reaper.shepherd_pids: the live shepherds of this exec host, from its spool */
static int shepherd_pids(pid_t *out, int max)
{
    int n = 0;
    char root[4200];
    snprintf(root, sizeof(root), "%s", task_dir);
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(root, '/');
        if (slash)
            *slash = '\0';
    }
    static const char *KINDS[] = {"active_jobs", "pe_tasks"};
    for (int k = 0; k < 2; k++) {
        char base[4300];
        snprintf(base, sizeof(base), "%s/%s", root, KINDS[k]);
        DIR *dir = opendir(base);
        struct dirent *ent;
        while (dir && (ent = readdir(dir)) != NULL && n < max) {
            if (ent->d_name[0] == '.')
                continue;  /* a retired task directory on its way out */
            char path[4600];
            snprintf(path, sizeof(path), "%s/%s/shepherd.pid", base, ent->d_name);
            int found;
            long long pid = read_number(path, &found);
            if (found)
                out[n++] = (pid_t)pid;
        }
        if (dir)
            closedir(dir);
    }
    return n;
}

static int in(pid_t pid, const pid_t *set, int n)
{
    for (int i = 0; i < n; i++)
        if (set[i] == pid)
            return 1;
    return 0;
}

/* usage.GroupSampler: the carriers of the job's extra group ID. Those below a shepherd count for
   memory only (its wait4 measures them); the others, foreign (e.g. come in through sshd), from
   their samples: a live one with its reaped children, one that vanished with its last sample
   unless a carrier parent reaped it */
#define MAX_PROCS 1024
struct sampler {
    long gid;
    double mem, last_cpu, last_time;
    long long maxvmem, last_vmem;
    int sampled;
    struct proc live[MAX_PROCS];  /* foreign, at the last sample */
    int nlive;
    double gone_cpu, gone_iow;
    long long gone_io;
    pid_t carried[MAX_PROCS];  /* the carriers the last sample found */
    int ncarried;
};

static void foreign(struct sampler *s, double *cpu, double *io, double *iow)
{
    *cpu = s->gone_cpu;
    *io = (double)s->gone_io;
    *iow = s->gone_iow;
    for (int i = 0; i < s->nlive; i++) {
        *cpu += s->live[i].own_cpu + s->live[i].kids_cpu;
        *io += (double)s->live[i].io;
        *iow += s->live[i].iow;
    }
}

static void sample(struct sampler *s, double t)
{
    static pid_t pids[MAX_PROCS], shepherds[MAX_PROCS];
    static struct proc current[MAX_PROCS], next_live[MAX_PROCS];
    int found = carriers(s->gid, pids, MAX_PROCS), n = 0;
    for (int i = 0; i < found; i++)
        if (read_proc(pids[i], &current[n]) == 0)
            n++;
    s->ncarried = n;
    long long vmem = 0;
    double cpu = 0.0;
    for (int i = 0; i < n; i++) {
        s->carried[i] = current[i].pid;
        vmem += current[i].vsize;
        cpu += current[i].own_cpu;
    }
    if (s->sampled) {
        double used = fmax(0.0, cpu - s->last_cpu);
        s->mem += (double)(s->last_vmem + vmem) / 2 / GIB * used;
    }
    s->sampled = 1;
    s->last_time = t;
    s->last_vmem = vmem;
    s->last_cpu = cpu;
    if (vmem > s->maxvmem)
        s->maxvmem = vmem;
    int nshep = shepherd_pids(shepherds, MAX_PROCS), nnext = 0;
    for (int i = 0; i < n; i++) {
        int root = i;
        for (int seen = 0; seen < 4096; seen++) {
            int up = -1;
            for (int j = 0; j < n; j++)
                if (current[j].pid == current[root].ppid)
                    up = j;
            if (up < 0)
                break;
            root = up;
        }
        if (in(current[root].ppid, shepherds, nshep))
            continue;  /* below a shepherd: its wait4 counts it */
        next_live[nnext] = current[i];
        next_live[nnext].parent_carries = in(current[i].ppid, s->carried, n);
        nnext++;
    }
    for (int i = 0; i < s->nlive; i++) {
        struct proc *old = &s->live[i];
        int still = 0;
        for (int j = 0; j < nnext; j++)
            if (next_live[j].pid == old->pid && next_live[j].start == old->start)
                still = 1;
        if (!still && !old->parent_carries) {
            s->gone_cpu += old->own_cpu + old->kids_cpu;
            s->gone_io += old->io;
            s->gone_iow += old->iow;
        }
    }
    memcpy(s->live, next_live, sizeof(struct proc) * (size_t)nnext);
    s->nlive = nnext;
    double fcpu, fio, fiow;
    foreign(s, &fcpu, &fio, &fiow);
    struct report u = {.n = 0};
    set_float(&u, "time", t);
    set_int(&u, "maxvmem", s->maxvmem);
    set_float(&u, "mem", s->mem);
    set_float(&u, "cpu", fcpu);
    set_float(&u, "io", fio);
    set_float(&u, "iow", fiow);
    struct buf b = {0};
    dump(&u, &b);
    if (write_atomic("usage.json", b.data, b.len) != 0)
        fprintf(stderr, "shepherd: usage sample failed: %s\n", strerror(errno));
    free(b.data);
}

/* ------------------------------------------------------------ the job */

static struct plan plan;
static const char *FAILURE_TEXT[64];

static void failure_texts(void)
{
    FAILURE_TEXT[BEFORE_JOB_READ] = "assumedly before job";
    FAILURE_TEXT[BEFORE_JOB] = "before job";
    FAILURE_TEXT[NO_OUTPUT] = "opening input/output file";
    FAILURE_TEXT[NO_CWD] = "changing to working directory";
    FAILURE_TEXT[H_RT] = "h_rt limit exceeded";
}

static void child_fail(int err_w, int code, const char *fmt, ...)
{
    char text[8192];
    int n = snprintf(text, sizeof(text), "%d\n", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text + n, sizeof(text) - (size_t)n, fmt, ap);
    va_end(ap);
    write_fd(err_w, text, strlen(text));
    _exit(127);
}

static int open_or_fail(int err_w, const char *path, int flags)
{
    int fd = open(path, flags, 0644);
    if (fd < 0)
        child_fail(err_w, NO_OUTPUT, "can't open %s: %s", path, strerror(errno));
    return fd;
}

/* os.execvpe: each directory of the job's PATH; the first error other than "not there" wins */
static void exec_search(const char *file, char **argv, char **envp)
{
    if (strchr(file, '/')) {
        execve(file, argv, envp);
        return;
    }
    const char *path = "/bin:/usr/bin";
    for (char **e = envp; e && *e; e++)
        if (!strncmp(*e, "PATH=", 5))
            path = *e + 5;
    int saved = 0, last = ENOENT;
    for (const char *dir = path;; dir++) {
        const char *end = strchrnul(dir, ':');
        char full[8192];
        snprintf(full, sizeof(full), "%.*s%s%s", (int)(end - dir), dir, end > dir ? "/" : "", file);
        execve(full, argv, envp);
        last = errno;
        if (errno != ENOENT && errno != ENOTDIR && saved == 0)
            saved = errno;
        if (*end == '\0')
            break;
        dir = end;
    }
    errno = saved ? saved : last;
}

static void job_child(int err_w)
{
    setpgid(0, 0);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (plan.has_groups) {
        gid_t groups[MAX_LIST];
        int n = 0;
        for (int i = 0; i < plan.groups.n && n < MAX_LIST; i++)
            groups[n++] = (gid_t)atol(plan.groups.items[i]);
        if (setgroups((size_t)n, groups) != 0)
            child_fail(err_w, BEFORE_JOB, "cannot switch to user %s: [Errno %d] %s", plan.user, errno, strerror(errno));
    }
    if (plan.do_switch) {
        if (setgid((gid_t)plan.gid) != 0 || setuid((uid_t)plan.uid) != 0)
            child_fail(err_w, BEFORE_JOB, "cannot switch to user %s: [Errno %d] %s", plan.user, errno, strerror(errno));
        if (getuid() != (uid_t)plan.uid || geteuid() != (uid_t)plan.uid || getgid() != (gid_t)plan.gid)
            child_fail(err_w, BEFORE_JOB, "cannot switch to user %s: identity switch to %s did not take effect",
                       plan.user, plan.user);
        if (setuid(0) == 0)
            child_fail(err_w, BEFORE_JOB, "cannot switch to user %s: identity switch is reversible: refusing to run "
                       "the job", plan.user);
    }
    if (chdir(plan.cwd) != 0)
        child_fail(err_w, NO_CWD, "error: can't chdir to %s: %s", plan.cwd, strerror(errno));
    int in = open_or_fail(err_w, plan.in, O_RDONLY);
    int out = open_or_fail(err_w, plan.out, O_WRONLY | O_CREAT | O_APPEND);
    int err = plan.joined ? out : open_or_fail(err_w, plan.err, O_WRONLY | O_CREAT | O_APPEND);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    close_from(3, err_w - 1);
    close_from(err_w + 1, ~0U);
    for (int i = 0; i < plan.nlimits; i++) {
        struct rlimit lim = {
            plan.limits[i].soft < 0 ? RLIM_INFINITY : (rlim_t)plan.limits[i].soft,
            plan.limits[i].hard < 0 ? RLIM_INFINITY : (rlim_t)plan.limits[i].hard,
        };
        if (setrlimit(plan.limits[i].resource, &lim) != 0)
            child_fail(err_w, BEFORE_JOB, "ValueError: cannot set a limit: %s", strerror(errno));
    }
    if (plan.search)
        exec_search(plan.exe, plan.args.items, plan.env.items);
    else
        execve(plan.exe, plan.args.items, plan.env.items);
    if (errno == ENOEXEC && plan.fallback.n > 0)
        execve(plan.fallback.items[0], plan.fallback.items, plan.env.items);
    child_fail(err_w, BEFORE_JOB, "cannot execute %s: %s", plan.exe, strerror(errno));
}

/* ------------------------------------------------------------ TMPDIR */

/* shutil.rmtree: never follows a symbolic link out of the tree */
static void remove_tree_at(int parent, const char *name)
{
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (fd < 0) {
        unlinkat(parent, name, 0);
        return;
    }
    DIR *dir = fdopendir(fd);
    if (dir == NULL) {
        close(fd);
        return;
    }
    struct dirent *ent;
    while ((ent = readdir(dir)) != NULL) {
        if (!strcmp(ent->d_name, ".") || !strcmp(ent->d_name, ".."))
            continue;
        if (ent->d_type == DT_DIR || ent->d_type == DT_UNKNOWN)
            remove_tree_at(fd, ent->d_name);
        else
            unlinkat(fd, ent->d_name, 0);
    }
    closedir(dir);
    unlinkat(parent, name, AT_REMOVEDIR);
}

static void remove_tree(const char *path)
{
    remove_tree_at(AT_FDCWD, path);
}

/* ------------------------------------------------------------ the run */

static struct report report;
static char error_text[8192];
static int tmpdir_made;

static void failed_as(int code, const char *text, int error_state)
{
    empty_report(&report, 0.0, now());
    set_int(&report, "failed", code);
    snprintf(error_text, sizeof(error_text), "%s", text);
    set_str(&report, "error", error_text);
    set_bool(&report, "error_state", error_state);
    set_int(&report, "exit_status", 0);
    char line[8300];
    int n = snprintf(line, sizeof(line), "%s\n", text);
    write_atomic("error", line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    fprintf(stderr, "shepherd: failed %d (%s): %s\n", code, FAILURE_TEXT[code] ? FAILURE_TEXT[code] : "", text);
}

static void failed(int code, const char *text) { failed_as(code, text, 1); }

/* reaper.end_all: killpg, every carrier of the group ID (``s``: the first round's are those of
   the sample at the job's end) and every process still below us (we are their subreaper),
   round after round until one finds none */
static void end_all(pid_t job, struct sampler *s)
{
    static pid_t pids[MAX_LIST];
    kill(-job, SIGKILL);
    double deadline = now() + 30.0;
    for (int round = 0;; round++) {
        int n = descendants(pids, MAX_LIST);
        if (s != NULL && round == 0) {
            for (int i = 0; i < s->ncarried && n < MAX_LIST; i++)
                pids[n++] = s->carried[i];
        } else if (s != NULL) {
            n += carriers(s->gid, pids + n, MAX_LIST - n);
        }
        for (int i = 0; i < n; i++)
            kill(pids[i], SIGKILL);
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        if (n == 0 || now() > deadline)
            return;
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
}

static int kill_requested(void)
{
    int found;
    read_number(path_of("kill"), &found);
    return found;
}

static void run(void)
{
    double t0 = now();
    if (read_plan(path_of(PLAN), &plan) != 0) {
        char text[4300];
        snprintf(text, sizeof(text), "cannot read the task directory: %s: %s", PLAN,
                 errno ? strerror(errno) : "incomplete");
        failed_as(BEFORE_JOB_READ, text, 0);
        return;
    }
    char text[8300];
    if (plan.tmpdir) {
        int fd = open(path_of("tmpdir"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (mkdir(plan.tmpdir, 0700) != 0 || fd < 0 ||
            (plan.do_switch && chown(plan.tmpdir, (uid_t)plan.uid, (gid_t)plan.gid) != 0)) {
            int saved = errno;
            if (fd >= 0)
                close(fd);
            snprintf(text, sizeof(text), "cannot create TMPDIR %s: %s", plan.tmpdir, strerror(saved));
            failed(BEFORE_JOB, text);
            return;
        }
        tmpdir_made = 1;
        write_fd(fd, plan.tmpdir, strlen(plan.tmpdir));
        close(fd);
    }
    for (int i = 0; plan.do_switch && i < plan.chown.n; i++) {
        if (chown(plan.chown.items[i], (uid_t)plan.uid, (gid_t)plan.gid) != 0 && errno != ENOENT) {
            const char *base = strrchr(plan.chown.items[i], '/');
            snprintf(text, sizeof(text), "cannot hand %s to %s: %s", base ? base + 1 : plan.chown.items[i],
                     plan.user, strerror(errno));
            failed(BEFORE_JOB, text);
            return;
        }
    }
    if (kill_requested()) {
        empty_report(&report, t0, now());
        set_bool(&report, "killed", 1);
        set_int(&report, "failed", BEFORE_JOB);
        set_str(&report, "error", "killed before it started");
        return;
    }
    long long io_before = read_io("/proc/self/io");
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        snprintf(text, sizeof(text), "OSError: pipe: %s", strerror(errno));
        failed(BEFORE_JOB, text);
        return;
    }
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, &old);
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        job_child(pipefd[1]);
    }
    if (pid < 0) {
        snprintf(text, sizeof(text), "OSError: fork: %s", strerror(errno));
        failed(BEFORE_JOB, text);
        return;
    }
    double started = now();
    close(pipefd[1]);
    setpgid(pid, pid);
    char message[8300];
    size_t got = 0;
    for (;;) {
        ssize_t n = read(pipefd[0], message + got, sizeof(message) - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || (got += (size_t)n) >= sizeof(message) - 1)
            break;
    }
    close(pipefd[0]);
    message[got] = '\0';
    if (got > 0) {
        waitpid(pid, NULL, 0);
        char *nl = strchr(message, '\n');
        failed(atoi(message), nl ? nl + 1 : "");
        return;
    }
    char pidline[32];
    int len = snprintf(pidline, sizeof(pidline), "%d\n", (int)pid);
    write_atomic("job.pid", pidline, (size_t)len);
    int found;
    long long sig = read_number(path_of("kill"), &found);  /* a KillJob before job.pid existed */
    if (found)
        kill(-pid, (int)sig);

    static struct sampler sampler;
    int sampling = plan.extra_gid >= 0;
    sampler.gid = plan.extra_gid;
    double next_sample = now() + FIRST_SAMPLE;
    int h_rt_hit = 0, s_rt_sent = plan.s_rt < 0, h_rt_sent = plan.h_rt < 0;
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof(ru));
    for (;;) {
        int done = 0;
        pid_t reaped;
        int st;
        struct rusage r;
        while ((reaped = wait4(-1, &st, WNOHANG, &r)) > 0)
            if (reaped == pid) {
                status = st;
                ru = r;
                done = 1;
            }
        if (done)
            break;
        double t = now();
        if (sampling && t >= next_sample) {
            sample(&sampler, t);
            next_sample = t + SAMPLE_SECONDS;
        }
        if (!s_rt_sent && t >= started + plan.s_rt) {
            s_rt_sent = 1;
            kill(-pid, SIGUSR1);
        }
        if (!h_rt_sent && t >= started + plan.h_rt) {
            h_rt_sent = h_rt_hit = 1;
            kill(-pid, SIGKILL);
            static pid_t pids[MAX_LIST];
            int n = descendants(pids, MAX_LIST);
            if (sampling)  /* procs.kill_gid: what left the process group, and foreign carriers */
                n += carriers(sampler.gid, pids + n, MAX_LIST - n);
            for (int i = 0; i < n; i++)
                kill(pids[i], SIGKILL);
        }
        double deadline = next_sample;
        if (!sampling)
            deadline = t + 3600;
        if (!s_rt_sent && started + plan.s_rt < deadline)
            deadline = started + plan.s_rt;
        if (!h_rt_sent && started + plan.h_rt < deadline)
            deadline = started + plan.h_rt;
        double wait = fmax(0.0, deadline - now());
        struct timespec ts = {(time_t)wait, (long)((wait - floor(wait)) * 1e9)};
        sigtimedwait(&chld, NULL, &ts);
    }
    double ended = now();
    if (sampling)
        sample(&sampler, ended);  /* the foreign processes as they were when the job ended */
    end_all(pid, sampling ? &sampler : NULL);
    struct rusage kids;
    getrusage(RUSAGE_CHILDREN, &kids);
    report_from_wait(&report, status, &ru, started, ended);
    /* usage.merge_usage: the children usage (the job and every orphan it left) */
    double cu = seconds(kids.ru_utime), cs = seconds(kids.ru_stime);
    set_float(&report, "ru_utime", round_to(cu, 6));
    set_float(&report, "ru_stime", round_to(cs, 6));
    double cpu = cu + cs, fcpu = 0.0, fio = 0.0, fiow = 0.0;
    long long own_io = read_io("/proc/self/io") - io_before;
    double io = (double)(own_io > 0 ? own_io : 0), iow = 0.0;
    if (sampling) {
        foreign(&sampler, &fcpu, &fio, &fiow);
        cpu += fcpu;
        io += fio;
        iow += fiow;
        if (sampler.maxvmem) {
            long long mv = field(&report, "maxvmem", INT)->i;
            set_int(&report, "maxvmem", mv > sampler.maxvmem ? mv : sampler.maxvmem);
        }
        if (sampler.mem != 0.0)
            set_float(&report, "mem", round_to(sampler.mem, 6));
    }
    set_float(&report, "cpu", round_to(cpu, 6));
    set_float(&report, "io", round_to(io / GIB, 9));
    set_float(&report, "iow", round_to(iow, 6));
    set_float(&report, "foreign_cpu", round_to(cpu - cu - cs, 6));
    set_bool(&report, "killed", kill_requested());
    if (h_rt_hit) {
        set_int(&report, "failed", H_RT);
        snprintf(error_text, sizeof(error_text), "job %s exceeded hard wallclock time h_rt", plan.task);
        set_str(&report, "error", error_text);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
}

/* a spare (TASK_DIR "-") waits for its task directory's path on stdin, up to a newline (one
   wake-up, not a second one for the EOF); EOF without one: exit */
static int path_from_stdin(void)
{
    size_t got = 0;
    for (;;) {
        ssize_t n = read(0, task_dir + got, sizeof(task_dir) - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || (got += (size_t)n) >= sizeof(task_dir) - 1 || task_dir[got - 1] == '\n')
            break;
    }
    task_dir[got] = '\0';
    while (got > 0 && (task_dir[got - 1] == '\n' || task_dir[got - 1] == ' '))
        task_dir[--got] = '\0';
    return got > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 2 || strlen(argv[1]) >= sizeof(task_dir)) {
        fprintf(stderr, "usage: qsys-shepherd TASK_DIR|-\n");
        return 2;
    }
    if (getsid(0) != getpid())
        setsid();
    if (strcmp(argv[1], "-") == 0) {
        if (path_from_stdin() != 0)
            return 0;
    } else {
        snprintf(task_dir, sizeof(task_dir), "%s", argv[1]);
    }
    ticks = sysconf(_SC_CLK_TCK);
    failure_texts();
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    signal(SIGHUP, SIG_IGN);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int null = open("/dev/null", O_RDWR);
    int trace = open(path_of("trace"), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (trace < 0)
        trace = null;
    dup2(null, 0);
    dup2(null, 1);
    dup2(trace, 2);
    close_from(3, ~0U);
    setvbuf(stderr, NULL, _IOLBF, 0);
    char pidline[64];
    int n = snprintf(pidline, sizeof(pidline), "%d %lld\n", (int)getpid(), proc_start_time());
    write_atomic("shepherd.pid", pidline, (size_t)n);
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    run();
    if (tmpdir_made)
        remove_tree(plan.tmpdir);
    struct buf b = {0};
    dump(&report, &b);
    write_atomic("exit.json", b.data, b.len);
    return 0;
}
