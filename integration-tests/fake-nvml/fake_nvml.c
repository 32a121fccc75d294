/*
 * A fake NVML (libnvidia-ml.so.1) for llmtel's tests: the real `nvml-wrapper` path of the `gpu` receiver runs
 * against it on machines without a GPU. It implements exactly the entry points llmtel calls (plus init, shutdown
 * and the error string); nvml-wrapper resolves symbols lazily, so anything else is "function not found".
 *
 * Scripted by the text file named in FAKE_NVML_SCRIPT, read at nvmlInit_v2. One statement per line, `#` starts a
 * comment; times are seconds since nvmlInit_v2 (CLOCK_MONOTONIC):
 *
 *   driver 550.54.15                 nvmlSystemGetDriverVersion
 *   gpu I uuid GPU-…                 the GPU of index I (0..7) exists from its first line on
 *   gpu I name NVIDIA H100 80GB HBM3 (the rest of the line)
 *   gpu I memory TOTAL USED          bytes (free = total - used)
 *   gpu I utilization GPU MEM        percent
 *   gpu I temperature C
 *   gpu I clocks SM MEM              MHz
 *   gpu I power_limit MW             milliwatts
 *   gpu I fan PERCENT
 *   gpu I pcie TX RX                 KB/s
 *   gpu I throttle MASK              nvmlClocksThrottleReasons bits (decimal or 0x…)
 *   gpu I process PID BYTES          a running compute process (repeatable)
 *   gpu I power FROM MW              power draw from FROM seconds on (repeatable: a step curve; 0 before the first)
 *   gpu I energy_base MJ             the energy counter at init, millijoules; it then grows by the power's integral
 *   gpu I unsupported WHAT           WHAT answers NVML_ERROR_NOT_SUPPORTED: fan, pcie, energy, power, throttle,
 *                                    processes, temperature, clocks, utilization, memory, power_limit
 *   gpu I lost_at SECONDS            from then on every call about this GPU answers NVML_ERROR_GPU_IS_LOST
 *
 * The energy counter is exact: base + the sum over power steps of mW x seconds (= mJ), at the moment of the call.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXPORT __attribute__((visibility("default")))

typedef int nvmlReturn_t;
enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_UNINITIALIZED = 1,
    NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVML_ERROR_GPU_IS_LOST = 15,
    NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25,
    NVML_ERROR_UNKNOWN = 999,
};

/* Layouts as in nvml.h (and nvml-wrapper-sys 0.10's bindings). */
typedef struct { unsigned int gpu; unsigned int memory; } nvmlUtilization_t;
typedef struct {
    unsigned int version;
    unsigned long long total;
    unsigned long long reserved;
    unsigned long long free;
    unsigned long long used;
} nvmlMemory_v2_t;
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvmlProcessInfo_t;

#define MAX_GPUS 8
#define MAX_STEPS 64
#define MAX_PROCS 16

enum {
    U_FAN = 1 << 0, U_PCIE = 1 << 1, U_ENERGY = 1 << 2, U_POWER = 1 << 3, U_THROTTLE = 1 << 4,
    U_PROCESSES = 1 << 5, U_TEMPERATURE = 1 << 6, U_CLOCKS = 1 << 7, U_UTILIZATION = 1 << 8,
    U_MEMORY = 1 << 9, U_POWER_LIMIT = 1 << 10,
};

struct step { double from; unsigned int mw; };
struct proc { unsigned int pid; unsigned long long bytes; };

struct gpu {
    int present;
    char uuid[96];
    char name[96];
    unsigned long long mem_total, mem_used;
    unsigned int util_gpu, util_mem, temperature, clock_sm, clock_mem, power_limit, fan, pcie_tx, pcie_rx;
    unsigned long long throttle;
    struct proc procs[MAX_PROCS];
    unsigned int nprocs;
    struct step steps[MAX_STEPS];
    unsigned int nsteps;
    unsigned long long energy_base;
    unsigned int unsupported;
    double lost_at; /* < 0: never */
};

static struct gpu gpus[MAX_GPUS];
static unsigned int ngpus;
static char driver[80] = "550.54.15";
static struct timespec t0;
static int initialized;

static double since_init(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
}

static unsigned int power_at(const struct gpu *g, double t) {
    unsigned int mw = 0;
    for (unsigned int i = 0; i < g->nsteps; i++)
        if (g->steps[i].from <= t) mw = g->steps[i].mw;
    return mw;
}

/* base + integral of the step curve from 0 to t, in mJ (steps are kept sorted by `from`). */
static unsigned long long energy_at(const struct gpu *g, double t) {
    double mj = 0;
    for (unsigned int i = 0; i < g->nsteps; i++) {
        double a = g->steps[i].from < 0 ? 0 : g->steps[i].from;
        double b = i + 1 < g->nsteps ? g->steps[i + 1].from : t;
        if (b > t) b = t;
        if (b > a) mj += (double)g->steps[i].mw * (b - a);
    }
    return g->energy_base + (unsigned long long)mj;
}

static unsigned int unsupported_bit(const char *w) {
    static const struct { const char *name; unsigned int bit; } names[] = {
        {"fan", U_FAN}, {"pcie", U_PCIE}, {"energy", U_ENERGY}, {"power", U_POWER}, {"throttle", U_THROTTLE},
        {"processes", U_PROCESSES}, {"temperature", U_TEMPERATURE}, {"clocks", U_CLOCKS},
        {"utilization", U_UTILIZATION}, {"memory", U_MEMORY}, {"power_limit", U_POWER_LIMIT},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(w, names[i].name) == 0) return names[i].bit;
    return 0;
}

static void trim(char *s) {
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ')) s[--n] = 0;
}

/* One statement; returns 0, or -1 for a line it does not understand (reported with its number). */
static int parse_line(char *line) {
    char *hash = strchr(line, '#');
    if (hash) *hash = 0;
    trim(line);
    char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (*p == 0) return 0;
    if (strncmp(p, "driver ", 7) == 0) {
        snprintf(driver, sizeof driver, "%s", p + 7);
        return 0;
    }
    unsigned int idx;
    char key[32];
    int off = 0;
    if (sscanf(p, "gpu %u %31s %n", &idx, key, &off) < 2 || idx >= MAX_GPUS) return -1;
    char *rest = p + off;
    struct gpu *g = &gpus[idx];
    if (!g->present) {
        g->present = 1;
        g->lost_at = -1;
        snprintf(g->uuid, sizeof g->uuid, "GPU-fake-%u", idx);
        snprintf(g->name, sizeof g->name, "Fake GPU");
    }
    if (idx + 1 > ngpus) ngpus = idx + 1;
    if (strcmp(key, "uuid") == 0) snprintf(g->uuid, sizeof g->uuid, "%s", rest);
    else if (strcmp(key, "name") == 0) snprintf(g->name, sizeof g->name, "%s", rest);
    else if (strcmp(key, "memory") == 0) return sscanf(rest, "%llu %llu", &g->mem_total, &g->mem_used) == 2 ? 0 : -1;
    else if (strcmp(key, "utilization") == 0) return sscanf(rest, "%u %u", &g->util_gpu, &g->util_mem) == 2 ? 0 : -1;
    else if (strcmp(key, "temperature") == 0) return sscanf(rest, "%u", &g->temperature) == 1 ? 0 : -1;
    else if (strcmp(key, "clocks") == 0) return sscanf(rest, "%u %u", &g->clock_sm, &g->clock_mem) == 2 ? 0 : -1;
    else if (strcmp(key, "power_limit") == 0) return sscanf(rest, "%u", &g->power_limit) == 1 ? 0 : -1;
    else if (strcmp(key, "fan") == 0) return sscanf(rest, "%u", &g->fan) == 1 ? 0 : -1;
    else if (strcmp(key, "pcie") == 0) return sscanf(rest, "%u %u", &g->pcie_tx, &g->pcie_rx) == 2 ? 0 : -1;
    else if (strcmp(key, "throttle") == 0) {
        char *end;
        g->throttle = strtoull(rest, &end, 0);
        return end == rest ? -1 : 0;
    } else if (strcmp(key, "process") == 0) {
        if (g->nprocs >= MAX_PROCS) return -1;
        struct proc *pr = &g->procs[g->nprocs];
        if (sscanf(rest, "%u %llu", &pr->pid, &pr->bytes) != 2) return -1;
        g->nprocs++;
    } else if (strcmp(key, "power") == 0) {
        if (g->nsteps >= MAX_STEPS) return -1;
        struct step s;
        if (sscanf(rest, "%lf %u", &s.from, &s.mw) != 2) return -1;
        /* Kept sorted by `from`. */
        unsigned int i = g->nsteps;
        while (i > 0 && g->steps[i - 1].from > s.from) {
            g->steps[i] = g->steps[i - 1];
            i--;
        }
        g->steps[i] = s;
        g->nsteps++;
    } else if (strcmp(key, "energy_base") == 0) return sscanf(rest, "%llu", &g->energy_base) == 1 ? 0 : -1;
    else if (strcmp(key, "unsupported") == 0) {
        unsigned int bit = unsupported_bit(rest);
        if (!bit) return -1;
        g->unsupported |= bit;
    } else if (strcmp(key, "lost_at") == 0) return sscanf(rest, "%lf", &g->lost_at) == 1 ? 0 : -1;
    else return -1;
    return 0;
}

EXPORT nvmlReturn_t nvmlInit_v2(void) {
    const char *path = getenv("FAKE_NVML_SCRIPT");
    if (!path) {
        fprintf(stderr, "fake nvml: FAKE_NVML_SCRIPT is not set\n");
        return NVML_ERROR_UNKNOWN;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "fake nvml: cannot open %s\n", path);
        return NVML_ERROR_UNKNOWN;
    }
    memset(gpus, 0, sizeof gpus);
    ngpus = 0;
    char line[512];
    unsigned int n = 0;
    int ok = 1;
    while (fgets(line, sizeof line, f)) {
        n++;
        if (parse_line(line) != 0) {
            fprintf(stderr, "fake nvml: %s:%u: cannot read this line\n", path, n);
            ok = 0;
        }
    }
    fclose(f);
    if (!ok) return NVML_ERROR_UNKNOWN;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    initialized = 1;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlShutdown(void) {
    initialized = 0;
    return NVML_SUCCESS;
}

EXPORT const char *nvmlErrorString(nvmlReturn_t r) {
    switch (r) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    case NVML_ERROR_ARGUMENT_VERSION_MISMATCH: return "Argument version mismatch";
    default: return "Unknown Error";
    }
}

EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (!version || length < strlen(driver) + 1) return NVML_ERROR_INSUFFICIENT_SIZE;
    snprintf(version, length, "%s", driver);
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (!count) return NVML_ERROR_INVALID_ARGUMENT;
    *count = ngpus;
    return NVML_SUCCESS;
}

static int lost(const struct gpu *g) { return g->lost_at >= 0 && since_init() >= g->lost_at; }

EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, struct gpu **device) {
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (index >= ngpus || !gpus[index].present || !device) return NVML_ERROR_INVALID_ARGUMENT;
    if (lost(&gpus[index])) return NVML_ERROR_GPU_IS_LOST;
    *device = &gpus[index];
    return NVML_SUCCESS;
}

/* Checks the handle and the output pointer; answers NOT_SUPPORTED or GPU_IS_LOST as scripted. */
#define CHECK(dev, out, what)                                                                                 \
    do {                                                                                                      \
        if (!initialized) return NVML_ERROR_UNINITIALIZED;                                                    \
        if ((dev) < gpus || (dev) >= gpus + MAX_GPUS || !(dev)->present || !(out))                            \
            return NVML_ERROR_INVALID_ARGUMENT;                                                               \
        if (lost(dev)) return NVML_ERROR_GPU_IS_LOST;                                                         \
        if ((dev)->unsupported & (what)) return NVML_ERROR_NOT_SUPPORTED;                                     \
    } while (0)

EXPORT nvmlReturn_t nvmlDeviceGetUUID(struct gpu *dev, char *uuid, unsigned int length) {
    CHECK(dev, uuid, 0);
    if (length < strlen(dev->uuid) + 1) return NVML_ERROR_INSUFFICIENT_SIZE;
    snprintf(uuid, length, "%s", dev->uuid);
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetName(struct gpu *dev, char *name, unsigned int length) {
    CHECK(dev, name, 0);
    if (length < strlen(dev->name) + 1) return NVML_ERROR_INSUFFICIENT_SIZE;
    snprintf(name, length, "%s", dev->name);
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(struct gpu *dev, nvmlUtilization_t *u) {
    CHECK(dev, u, U_UTILIZATION);
    u->gpu = dev->util_gpu;
    u->memory = dev->util_mem;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(struct gpu *dev, nvmlMemory_v2_t *m) {
    CHECK(dev, m, U_MEMORY);
    /* NVML_STRUCT_VERSION(Memory, 2): a caller with another layout is told so, as the real library does. */
    if (m->version != (unsigned int)(sizeof(nvmlMemory_v2_t) | (2u << 24))) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    m->total = dev->mem_total;
    m->used = dev->mem_used;
    m->free = dev->mem_total - dev->mem_used;
    m->reserved = 0;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetTemperature(struct gpu *dev, int sensor, unsigned int *temp) {
    CHECK(dev, temp, U_TEMPERATURE);
    if (sensor != 0) return NVML_ERROR_INVALID_ARGUMENT; /* NVML_TEMPERATURE_GPU */
    *temp = dev->temperature;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(struct gpu *dev, unsigned int *mw) {
    CHECK(dev, mw, U_POWER);
    *mw = power_at(dev, since_init());
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(struct gpu *dev, unsigned int *mw) {
    CHECK(dev, mw, U_POWER_LIMIT);
    *mw = dev->power_limit;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(struct gpu *dev, unsigned long long *mj) {
    CHECK(dev, mj, U_ENERGY);
    *mj = energy_at(dev, since_init());
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetClockInfo(struct gpu *dev, int type, unsigned int *mhz) {
    CHECK(dev, mhz, U_CLOCKS);
    switch (type) {
    case 1: *mhz = dev->clock_sm; return NVML_SUCCESS;  /* NVML_CLOCK_SM */
    case 2: *mhz = dev->clock_mem; return NVML_SUCCESS; /* NVML_CLOCK_MEM */
    default: return NVML_ERROR_INVALID_ARGUMENT;
    }
}

EXPORT nvmlReturn_t nvmlDeviceGetFanSpeed_v2(struct gpu *dev, unsigned int fan, unsigned int *pct) {
    CHECK(dev, pct, U_FAN);
    if (fan != 0) return NVML_ERROR_INVALID_ARGUMENT;
    *pct = dev->fan;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetPcieThroughput(struct gpu *dev, int counter, unsigned int *kbs) {
    CHECK(dev, kbs, U_PCIE);
    switch (counter) {
    case 0: *kbs = dev->pcie_tx; return NVML_SUCCESS; /* NVML_PCIE_UTIL_TX_BYTES */
    case 1: *kbs = dev->pcie_rx; return NVML_SUCCESS; /* NVML_PCIE_UTIL_RX_BYTES */
    default: return NVML_ERROR_INVALID_ARGUMENT;
    }
}

EXPORT nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(struct gpu *dev, unsigned long long *reasons) {
    CHECK(dev, reasons, U_THROTTLE);
    *reasons = dev->throttle;
    return NVML_SUCCESS;
}

/* NVML's two-call protocol: with too small a buffer (or none), the count and INSUFFICIENT_SIZE. */
static nvmlReturn_t list_processes(const struct proc *procs, unsigned int n, unsigned int *count,
                                   nvmlProcessInfo_t *infos) {
    if (n == 0) {
        *count = 0;
        return NVML_SUCCESS;
    }
    if (!infos || *count < n) {
        *count = n;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    for (unsigned int i = 0; i < n; i++) {
        infos[i].pid = procs[i].pid;
        infos[i].usedGpuMemory = procs[i].bytes;
        infos[i].gpuInstanceId = 0xFFFFFFFFu; /* no MIG */
        infos[i].computeInstanceId = 0xFFFFFFFFu;
    }
    *count = n;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(struct gpu *dev, unsigned int *count,
                                                            nvmlProcessInfo_t *infos) {
    CHECK(dev, count, U_PROCESSES);
    return list_processes(dev->procs, dev->nprocs, count, infos);
}

EXPORT nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(struct gpu *dev, unsigned int *count,
                                                             nvmlProcessInfo_t *infos) {
    CHECK(dev, count, U_PROCESSES);
    return list_processes(NULL, 0, count, infos);
}
