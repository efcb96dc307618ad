/* A tiny MPI program for the PE tests: every rank burns SECONDS of its own cpu, then the ranks
   sum their numbers and each prints where it ran and the cpu it used. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
    int rank, size, sum = 0;
    double seconds = argc > 1 ? atof(argv[1]) : 0.0;
    volatile unsigned long spin = 0;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    while (seconds < 0 || cpu_seconds() < seconds)
        for (int i = 0; i < 1000000; i++) spin++;
    MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    const char *host = getenv("HOSTNAME");
    printf("rank %d of %d on %s sum %d cpu %.6f\n", rank, size, host ? host : "?", sum, cpu_seconds());
    fflush(stdout);
    MPI_Finalize();
    return 0;
}
