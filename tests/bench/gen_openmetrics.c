/* gen_openmetrics.c — writes a deterministic, node_exporter-like data set as
 * OpenMetrics text (timestamps in seconds, `# EOF`) for the storage
 * benchmark: the same file is backfilled into Vigil (`tsq import
 * openmetrics`) and Prometheus (`promtool tsdb create-blocks-from
 * openmetrics`). The mix of series is described in tests/bench/README.md.
 *
 * Usage: gen_openmetrics [-m MISSING] [-r REBOOTS] [-s START] SERIES HOURS
 *                        INTERVAL_S SEED > FILE
 *   MISSING  probability that one scrape of a host is missing (0.0005)
 *   REBOOTS  expected reboots per host per day (0.15)
 *   START    Unix seconds of the first scrape (1767225600, 2026-01-01)
 * The output is a function of the arguments only. A summary line
 * (`series=N samples=N mint=S maxt=S hosts=N`) goes to stderr.
 *
 * Output order is what promtool requires: metric families are never
 * interleaved, and within a family each series' samples are written
 * together in increasing time order. Every random decision derives from
 * (SEED, host or series, scrape index) so the order of generation does not
 * change the data.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- deterministic randomness ---------------------------------------- */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* A hash of up to three integers, for decisions made by index. */
static uint64_t hash3(uint64_t a, uint64_t b, uint64_t c)
{
    return splitmix64(splitmix64(splitmix64(a) ^ b) ^ c);
}

/* Uniform in [0, 1) from 53 random bits. */
static double unit(uint64_t bits)
{
    return (double)(bits >> 11) * 0x1.0p-53;
}

struct rng {
    uint64_t s;
};

static double rng_unit(struct rng *r)
{
    r->s = splitmix64(r->s);
    return unit(r->s);
}

static double rng_normal(struct rng *r)
{
    double u1 = rng_unit(r), u2 = rng_unit(r);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * M_PI * u2);
}

/* ---- the series mix --------------------------------------------------- */

enum kind {
    K_CONST,   /* a * scale * weight */
    K_COUNTER, /* grows at a * scale * weight per second, lognormal jitter b */
    K_WALK,    /* mean-reverting random walk around a * scale * weight, step b */
    K_FLOAT,   /* high-entropy: lognormal around a, sigma b, all 17 digits */
    K_TIME,    /* node_time_seconds: scrape time plus a random fraction */
    K_BOOT     /* node_boot_time_seconds: changes at a reboot */
};

enum scale {
    S_ONE,  /* no host factor */
    S_LOAD, /* the host's load factor */
    S_MEM,  /* the host's memory size in bytes */
    S_DISK  /* the host's disk size in bytes */
};

struct dim {
    const char *label;
    const char *const *values; /* NULL-terminated */
    const double *weights;     /* per value; NULL = all 1 */
};

struct family {
    const char *name;   /* sample name */
    const char *type;   /* OpenMetrics type */
    const char *help;
    const struct dim *d1, *d2; /* label dimensions, may be NULL */
    const char *extra;  /* fixed labels; "{host}" is replaced by the host */
    enum kind kind;
    enum scale scale;
    double a, b;
    int decimals;       /* values are multiples of 10^-decimals ... */
    int64_t quantum;    /* ... and of quantum in those units (walks) */
};

static const char *const cpus[] = {"0", "1", "2", "3", "4", "5", "6", "7", NULL};
static const char *const cpu_modes[] = {"idle", "iowait", "irq", "nice",
                                        "softirq", "steal", "system", "user", NULL};
static const double cpu_mode_rates[] = {0.72, 0.02, 0, 0.002, 0.01, 0, 0.06, 0.18};
static const char *const guest_modes[] = {"guest", "guest_nice", NULL};
static const char *const net_devs[] = {"docker0", "eth0", "eth1", "lo", NULL};
static const double net_dev_rates[] = {0.3, 1.0, 0.15, 0.05};
static const char *const disks[] = {"nvme0n1", "sda", "sdb", NULL};
static const double disk_rates[] = {1.0, 0.3, 0.05};
static const char *const mounts[] = {"/", "/boot", "/run", "/var/lib/docker", NULL};
static const double mount_sizes[] = {0.25, 0.001, 0.002, 0.7};
static const char *const sensors[] = {"temp1", "temp2", "temp3", "temp4", NULL};
static const char *const collectors[] = {"cpu", "diskstats", "filesystem", "hwmon",
                                         "loadavg", "meminfo", "netdev", "netstat",
                                         "stat", "vmstat", NULL};

static const struct dim D_CPU = {"cpu", cpus, NULL};
static const struct dim D_MODE = {"mode", cpu_modes, cpu_mode_rates};
static const struct dim D_GUEST = {"mode", guest_modes, NULL};
static const struct dim D_NET = {"device", net_devs, net_dev_rates};
static const struct dim D_DISK = {"device", disks, disk_rates};
static const struct dim D_MOUNT = {"mountpoint", mounts, mount_sizes};
static const struct dim D_SENSOR = {"sensor", sensors, NULL};
static const struct dim D_COLL = {"collector", collectors, NULL};

#define GIB 1073741824.0
#define FS "device=\"/dev/vda1\",fstype=\"ext4\""

static const struct family families[] = {
    {"node_cpu_seconds_total", "counter", "Seconds the CPUs spent in each mode.",
     &D_CPU, &D_MODE, NULL, K_COUNTER, S_ONE, 1.0, 0.15, 2, 1},
    {"node_cpu_guest_seconds_total", "counter", "Seconds the CPUs spent in guests.",
     &D_CPU, &D_GUEST, NULL, K_COUNTER, S_ONE, 0, 0, 2, 1},
    {"node_network_receive_bytes_total", "counter", "Network device statistic receive_bytes.",
     &D_NET, NULL, NULL, K_COUNTER, S_LOAD, 250e3, 0.6, 0, 1},
    {"node_network_transmit_bytes_total", "counter", "Network device statistic transmit_bytes.",
     &D_NET, NULL, NULL, K_COUNTER, S_LOAD, 180e3, 0.6, 0, 1},
    {"node_network_receive_packets_total", "counter", "Network device statistic receive_packets.",
     &D_NET, NULL, NULL, K_COUNTER, S_LOAD, 300, 0.5, 0, 1},
    {"node_network_transmit_packets_total", "counter", "Network device statistic transmit_packets.",
     &D_NET, NULL, NULL, K_COUNTER, S_LOAD, 240, 0.5, 0, 1},
    {"node_network_receive_errs_total", "counter", "Network device statistic receive_errs.",
     &D_NET, NULL, NULL, K_COUNTER, S_ONE, 0.0002, 0, 0, 1},
    {"node_network_transmit_errs_total", "counter", "Network device statistic transmit_errs.",
     &D_NET, NULL, NULL, K_COUNTER, S_ONE, 0, 0, 0, 1},
    {"node_network_receive_drop_total", "counter", "Network device statistic receive_drop.",
     &D_NET, NULL, NULL, K_COUNTER, S_ONE, 0.002, 0, 0, 1},
    {"node_network_transmit_drop_total", "counter", "Network device statistic transmit_drop.",
     &D_NET, NULL, NULL, K_COUNTER, S_ONE, 0, 0, 0, 1},
    {"node_network_up", "gauge", "Value is 1 if operstate is 'up', 0 otherwise.",
     &D_NET, NULL, NULL, K_CONST, S_ONE, 1, 0, 0, 1},
    {"node_network_mtu_bytes", "gauge", "Network device property mtu_bytes.",
     &D_NET, NULL, NULL, K_CONST, S_ONE, 1500, 0, 0, 1},
    {"node_network_info", "gauge", "Non-numeric data from /sys/class/net/<iface>.",
     &D_NET, NULL, "duplex=\"full\",operstate=\"up\"", K_CONST, S_ONE, 1, 0, 0, 1},
    {"node_memory_MemTotal_bytes", "gauge", "Memory information field MemTotal_bytes.",
     NULL, NULL, NULL, K_CONST, S_MEM, 1.0, 0, 0, 1024},
    {"node_memory_MemFree_bytes", "gauge", "Memory information field MemFree_bytes.",
     NULL, NULL, NULL, K_WALK, S_MEM, 0.12, 0.01, 0, 1024},
    {"node_memory_MemAvailable_bytes", "gauge", "Memory information field MemAvailable_bytes.",
     NULL, NULL, NULL, K_WALK, S_MEM, 0.55, 0.005, 0, 1024},
    {"node_memory_Buffers_bytes", "gauge", "Memory information field Buffers_bytes.",
     NULL, NULL, NULL, K_WALK, S_MEM, 0.02, 0.002, 0, 1024},
    {"node_memory_Cached_bytes", "gauge", "Memory information field Cached_bytes.",
     NULL, NULL, NULL, K_WALK, S_MEM, 0.40, 0.003, 0, 1024},
    {"node_memory_SwapTotal_bytes", "gauge", "Memory information field SwapTotal_bytes.",
     NULL, NULL, NULL, K_CONST, S_ONE, 2 * GIB, 0, 0, 1024},
    {"node_memory_SwapFree_bytes", "gauge", "Memory information field SwapFree_bytes.",
     NULL, NULL, NULL, K_WALK, S_ONE, 1.9 * GIB, 0.0002, 0, 1024},
    {"node_memory_Active_bytes", "gauge", "Memory information field Active_bytes.",
     NULL, NULL, NULL, K_WALK, S_MEM, 0.30, 0.004, 0, 1024},
    {"node_memory_Inactive_bytes", "gauge", "Memory information field Inactive_bytes.",
     NULL, NULL, NULL, K_WALK, S_MEM, 0.25, 0.004, 0, 1024},
    {"node_memory_Active_anon_bytes", "gauge", "Memory information field Active_anon_bytes.",
     NULL, NULL, NULL, K_WALK, S_MEM, 0.18, 0.005, 0, 1024},
    {"node_memory_Inactive_anon_bytes", "gauge", "Memory information field Inactive_anon_bytes.",
     NULL, NULL, NULL, K_WALK, S_MEM, 0.03, 0.002, 0, 1024},
    {"node_memory_Active_file_bytes", "gauge", "Memory information field Active_file_bytes.",
     NULL, NULL, NULL, K_WALK, S_MEM, 0.12, 0.003, 0, 1024},
    {"node_memory_Inactive_file_bytes", "gauge", "Memory information field Inactive_file_bytes.",
     NULL, NULL, NULL, K_WALK, S_MEM, 0.22, 0.003, 0, 1024},
    {"node_memory_Dirty_bytes", "gauge", "Memory information field Dirty_bytes.",
     NULL, NULL, NULL, K_WALK, S_MEM, 0.0005, 0.3, 0, 4096},
    {"node_memory_Writeback_bytes", "gauge", "Memory information field Writeback_bytes.",
     NULL, NULL, NULL, K_WALK, S_MEM, 0.00001, 0.5, 0, 4096},
    {"node_memory_AnonPages_bytes", "gauge", "Memory information field AnonPages_bytes.",
     NULL, NULL, NULL, K_WALK, S_MEM, 0.20, 0.005, 0, 1024},
    {"node_memory_Mapped_bytes", "gauge", "Memory information field Mapped_bytes.",
     NULL, NULL, NULL, K_WALK, S_MEM, 0.05, 0.002, 0, 1024},
    {"node_memory_Shmem_bytes", "gauge", "Memory information field Shmem_bytes.",
     NULL, NULL, NULL, K_WALK, S_MEM, 0.01, 0.001, 0, 1024},
    {"node_memory_Slab_bytes", "gauge", "Memory information field Slab_bytes.",
     NULL, NULL, NULL, K_WALK, S_MEM, 0.04, 0.002, 0, 1024},
    {"node_memory_SReclaimable_bytes", "gauge", "Memory information field SReclaimable_bytes.",
     NULL, NULL, NULL, K_WALK, S_MEM, 0.025, 0.002, 0, 1024},
    {"node_memory_SUnreclaim_bytes", "gauge", "Memory information field SUnreclaim_bytes.",
     NULL, NULL, NULL, K_WALK, S_MEM, 0.015, 0.001, 0, 1024},
    {"node_memory_KernelStack_bytes", "gauge", "Memory information field KernelStack_bytes.",
     NULL, NULL, NULL, K_WALK, S_MEM, 0.001, 0.003, 0, 16384},
    {"node_memory_PageTables_bytes", "gauge", "Memory information field PageTables_bytes.",
     NULL, NULL, NULL, K_WALK, S_MEM, 0.003, 0.003, 0, 4096},
    {"node_memory_Committed_AS_bytes", "gauge", "Memory information field Committed_AS_bytes.",
     NULL, NULL, NULL, K_WALK, S_MEM, 0.60, 0.004, 0, 1024},
    {"node_memory_VmallocUsed_bytes", "gauge", "Memory information field VmallocUsed_bytes.",
     NULL, NULL, NULL, K_WALK, S_MEM, 0.002, 0.001, 0, 1024},
    {"node_memory_HugePages_Total", "gauge", "Memory information field HugePages_Total.",
     NULL, NULL, NULL, K_CONST, S_ONE, 0, 0, 0, 1},
    {"node_memory_Hugepagesize_bytes", "gauge", "Memory information field Hugepagesize_bytes.",
     NULL, NULL, NULL, K_CONST, S_ONE, 2097152, 0, 0, 1},
    {"node_filesystem_size_bytes", "gauge", "Filesystem size in bytes.",
     &D_MOUNT, NULL, FS, K_CONST, S_DISK, 1.0, 0, 0, 4096},
    {"node_filesystem_free_bytes", "gauge", "Filesystem free space in bytes.",
     &D_MOUNT, NULL, FS, K_WALK, S_DISK, 0.45, 0.0005, 0, 4096},
    {"node_filesystem_avail_bytes", "gauge", "Filesystem space available to non-root users in bytes.",
     &D_MOUNT, NULL, FS, K_WALK, S_DISK, 0.40, 0.0005, 0, 4096},
    {"node_filesystem_files", "gauge", "Filesystem total file nodes.",
     &D_MOUNT, NULL, FS, K_CONST, S_DISK, 1.0 / 16384, 0, 0, 1},
    {"node_filesystem_files_free", "gauge", "Filesystem total free file nodes.",
     &D_MOUNT, NULL, FS, K_WALK, S_DISK, 0.8 / 16384, 0.0002, 0, 1},
    {"node_filesystem_readonly", "gauge", "Filesystem read-only status.",
     &D_MOUNT, NULL, FS, K_CONST, S_ONE, 0, 0, 0, 1},
    {"node_filesystem_device_error", "gauge", "Whether an error occurred while getting statistics.",
     &D_MOUNT, NULL, FS, K_CONST, S_ONE, 0, 0, 0, 1},
    {"node_disk_reads_completed_total", "counter", "The total number of reads completed successfully.",
     &D_DISK, NULL, NULL, K_COUNTER, S_LOAD, 12, 0.8, 0, 1},
    {"node_disk_writes_completed_total", "counter", "The total number of writes completed successfully.",
     &D_DISK, NULL, NULL, K_COUNTER, S_LOAD, 40, 0.5, 0, 1},
    {"node_disk_read_bytes_total", "counter", "The total number of bytes read successfully.",
     &D_DISK, NULL, NULL, K_COUNTER, S_LOAD, 200e3, 0.8, 0, 512},
    {"node_disk_written_bytes_total", "counter", "The total number of bytes written successfully.",
     &D_DISK, NULL, NULL, K_COUNTER, S_LOAD, 600e3, 0.5, 0, 512},
    {"node_disk_io_time_seconds_total", "counter", "Total seconds spent doing I/Os.",
     &D_DISK, NULL, NULL, K_COUNTER, S_LOAD, 0.03, 0.5, 3, 1},
    {"node_disk_read_time_seconds_total", "counter", "The total number of seconds spent by all reads.",
     &D_DISK, NULL, NULL, K_COUNTER, S_LOAD, 0.01, 0.8, 3, 1},
    {"node_disk_write_time_seconds_total", "counter", "This is the total number of seconds spent by all writes.",
     &D_DISK, NULL, NULL, K_COUNTER, S_LOAD, 0.05, 0.5, 3, 1},
    {"node_disk_io_now", "gauge", "The number of I/Os currently in progress.",
     &D_DISK, NULL, NULL, K_WALK, S_ONE, 0.3, 1.0, 0, 1},
    {"node_load1", "gauge", "1m load average.",
     NULL, NULL, NULL, K_WALK, S_LOAD, 1.2, 0.15, 2, 1},
    {"node_load5", "gauge", "5m load average.",
     NULL, NULL, NULL, K_WALK, S_LOAD, 1.2, 0.06, 2, 1},
    {"node_load15", "gauge", "15m load average.",
     NULL, NULL, NULL, K_WALK, S_LOAD, 1.2, 0.02, 2, 1},
    {"node_context_switches_total", "counter", "Total number of context switches.",
     NULL, NULL, NULL, K_COUNTER, S_LOAD, 9000, 0.2, 0, 1},
    {"node_intr_total", "counter", "Total number of interrupts serviced.",
     NULL, NULL, NULL, K_COUNTER, S_LOAD, 6000, 0.2, 0, 1},
    {"node_forks_total", "counter", "Total number of forks.",
     NULL, NULL, NULL, K_COUNTER, S_LOAD, 15, 0.4, 0, 1},
    {"node_procs_running", "gauge", "Number of processes in runnable state.",
     NULL, NULL, NULL, K_WALK, S_LOAD, 2, 0.8, 0, 1},
    {"node_procs_blocked", "gauge", "Number of processes blocked waiting for I/O to complete.",
     NULL, NULL, NULL, K_WALK, S_ONE, 0.1, 1.0, 0, 1},
    {"node_entropy_available_bits", "gauge", "Bits of available entropy.",
     NULL, NULL, NULL, K_WALK, S_ONE, 3500, 0.05, 0, 1},
    {"node_boot_time_seconds", "gauge", "Node boot time, in unixtime.",
     NULL, NULL, NULL, K_BOOT, S_ONE, 0, 0, 0, 1},
    {"node_time_seconds", "gauge", "System time in seconds since epoch (1970).",
     NULL, NULL, NULL, K_TIME, S_ONE, 0, 0, 0, 1},
    {"node_hwmon_temp_celsius", "gauge", "Hardware monitor for temperature (input)",
     &D_SENSOR, NULL, "chip=\"platform_coretemp_0\"", K_WALK, S_ONE, 48, 0.01, 3, 1},
    {"node_scrape_collector_duration_seconds", "gauge", "node_exporter: Duration of a collector scrape.",
     &D_COLL, NULL, NULL, K_FLOAT, S_ONE, 0.002, 0.5, 0, 1},
    {"node_scrape_collector_success", "gauge", "node_exporter: Whether a collector succeeded.",
     &D_COLL, NULL, NULL, K_CONST, S_ONE, 1, 0, 0, 1},
    {"node_uname_info", "gauge", "Labeled system information as provided by the uname system call.",
     NULL, NULL, "domainname=\"(none)\",machine=\"x86_64\",nodename=\"{host}\","
     "release=\"6.1.0-13-amd64\",sysname=\"Linux\",version=\"#1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1\"",
     K_CONST, S_ONE, 1, 0, 0, 1},
    {"node_os_info", "gauge", "A metric with a constant '1' value labeled by os information.",
     NULL, NULL, "id=\"debian\",name=\"Debian GNU/Linux\",version_id=\"12\"",
     K_CONST, S_ONE, 1, 0, 0, 1},
    {"node_exporter_build_info", "gauge", "A metric with a constant '1' value labeled by version.",
     NULL, NULL, "goversion=\"go1.19.8\",revision=\"1.5.0\",version=\"1.5.0\"",
     K_CONST, S_ONE, 1, 0, 0, 1},
    {"node_sockstat_TCP_inuse", "gauge", "Number of TCP sockets in state inuse.",
     NULL, NULL, NULL, K_WALK, S_LOAD, 120, 0.05, 0, 1},
    {"node_sockstat_TCP_tw", "gauge", "Number of TCP sockets in state tw.",
     NULL, NULL, NULL, K_WALK, S_LOAD, 300, 0.1, 0, 1},
    {"node_sockstat_sockets_used", "gauge", "Number of IPv4 sockets in use.",
     NULL, NULL, NULL, K_WALK, S_LOAD, 600, 0.03, 0, 1},
    {"node_netstat_Tcp_CurrEstab", "gauge", "Statistic TcpCurrEstab.",
     NULL, NULL, NULL, K_WALK, S_LOAD, 80, 0.05, 0, 1},
    {"node_netstat_Tcp_ActiveOpens_total", "counter", "Statistic TcpActiveOpens.",
     NULL, NULL, NULL, K_COUNTER, S_LOAD, 8, 0.5, 0, 1},
    {"node_netstat_Tcp_PassiveOpens_total", "counter", "Statistic TcpPassiveOpens.",
     NULL, NULL, NULL, K_COUNTER, S_LOAD, 12, 0.5, 0, 1},
    {"node_netstat_Tcp_RetransSegs_total", "counter", "Statistic TcpRetransSegs.",
     NULL, NULL, NULL, K_COUNTER, S_LOAD, 0.3, 1.0, 0, 1},
    {"node_netstat_Tcp_InSegs_total", "counter", "Statistic TcpInSegs.",
     NULL, NULL, NULL, K_COUNTER, S_LOAD, 400, 0.4, 0, 1},
    {"node_netstat_Tcp_OutSegs_total", "counter", "Statistic TcpOutSegs.",
     NULL, NULL, NULL, K_COUNTER, S_LOAD, 380, 0.4, 0, 1},
    {"node_vmstat_pgfault_total", "counter", "/proc/vmstat information field pgfault.",
     NULL, NULL, NULL, K_COUNTER, S_LOAD, 20000, 0.3, 0, 1},
    {"node_vmstat_pgmajfault_total", "counter", "/proc/vmstat information field pgmajfault.",
     NULL, NULL, NULL, K_COUNTER, S_LOAD, 0.5, 1.0, 0, 1},
    {"node_vmstat_pgpgin_total", "counter", "/proc/vmstat information field pgpgin.",
     NULL, NULL, NULL, K_COUNTER, S_LOAD, 200, 0.8, 0, 1},
    {"node_vmstat_pgpgout_total", "counter", "/proc/vmstat information field pgpgout.",
     NULL, NULL, NULL, K_COUNTER, S_LOAD, 600, 0.5, 0, 1},
    {"node_vmstat_pswpin_total", "counter", "/proc/vmstat information field pswpin.",
     NULL, NULL, NULL, K_COUNTER, S_ONE, 0.001, 0, 0, 1},
    {"node_vmstat_pswpout_total", "counter", "/proc/vmstat information field pswpout.",
     NULL, NULL, NULL, K_COUNTER, S_ONE, 0.002, 0, 0, 1},
    {"node_vmstat_oom_kill_total", "counter", "/proc/vmstat information field oom_kill.",
     NULL, NULL, NULL, K_COUNTER, S_ONE, 0, 0, 0, 1},
    {"node_filefd_allocated", "gauge", "File descriptor statistics: allocated.",
     NULL, NULL, NULL, K_WALK, S_LOAD, 3000, 0.02, 0, 1},
    {"node_filefd_maximum", "gauge", "File descriptor statistics: maximum.",
     NULL, NULL, NULL, K_CONST, S_ONE, 2432423, 0, 0, 1},
    {"up", "gauge", "Whether the target was scraped.",
     NULL, NULL, NULL, K_CONST, S_ONE, 1, 0, 0, 1},
    {"scrape_duration_seconds", "gauge", "Duration of the scrape.",
     NULL, NULL, NULL, K_FLOAT, S_ONE, 0.025, 0.3, 0, 1},
    {"scrape_samples_scraped", "gauge", "Samples the target exposed.",
     NULL, NULL, NULL, K_CONST, S_ONE, 1143, 0, 0, 1},
    {"scrape_samples_post_metric_relabeling", "gauge", "Samples left after relabeling.",
     NULL, NULL, NULL, K_CONST, S_ONE, 1143, 0, 0, 1},
    {"scrape_series_added", "gauge", "Series new in this scrape.",
     NULL, NULL, NULL, K_CONST, S_ONE, 0, 0, 0, 1},
};

#define NFAMILIES (sizeof(families) / sizeof(families[0]))

static size_t dim_len(const struct dim *d)
{
    size_t n = 0;
    if (d)
        while (d->values[n])
            n++;
    return d ? n : 1;
}

static double dim_weight(const struct dim *d, size_t i)
{
    return d && d->weights ? d->weights[i] : 1.0;
}

static size_t family_len(const struct family *f)
{
    return dim_len(f->d1) * dim_len(f->d2);
}

/* ---- hosts ------------------------------------------------------------ */

struct host {
    double load;         /* multiplies rates */
    double mem_bytes;
    double disk_bytes;
    int64_t boot_s;      /* boot time before the first scrape */
    int64_t reboot_at;   /* scrape index of a reboot, or -1 */
    int64_t reboot_down; /* scrapes missed while rebooting */
};

struct config {
    uint64_t seed;
    int64_t start_s, interval_s, scrapes;
    double missing;
    double reboots_per_day;
};

static void host_init(struct host *h, const struct config *c, size_t idx)
{
    static const double mems[] = {8, 16, 32, 64};
    static const double disks_gib[] = {100, 250, 500, 1000};
    struct rng r = {hash3(c->seed, 0x40575, idx)};

    h->load = exp(0.6 * rng_normal(&r));
    h->mem_bytes = mems[(size_t)(rng_unit(&r) * 4)] * GIB;
    h->disk_bytes = disks_gib[(size_t)(rng_unit(&r) * 4)] * GIB;
    h->boot_s = c->start_s - (int64_t)(3600 + rng_unit(&r) * 60 * 86400);
    double day_fraction = (double)(c->scrapes * c->interval_s) / 86400;
    h->reboot_at = -1;
    if (rng_unit(&r) < c->reboots_per_day * day_fraction) {
        h->reboot_at = 1 + (int64_t)(rng_unit(&r) * (double)(c->scrapes - 1));
        h->reboot_down = 2 + (int64_t)(rng_unit(&r) * 3);
    }
}

/* 1 if the host produced no sample at scrape k. */
static int scrape_missing(const struct host *h, const struct config *c, size_t host,
                          int64_t k)
{
    if (h->reboot_at >= 0 && k >= h->reboot_at && k < h->reboot_at + h->reboot_down)
        return 1;
    return unit(hash3(c->seed ^ 0x6d697373ULL, host, (uint64_t)k)) < c->missing;
}

/* ---- output ----------------------------------------------------------- */

struct out {
    char buf[1 << 20];
    size_t len;
    uint64_t samples;
};

static void out_flush(struct out *o)
{
    if (o->len && fwrite(o->buf, 1, o->len, stdout) != o->len) {
        perror("gen_openmetrics: write");
        exit(1);
    }
    o->len = 0;
}

static void out_str(struct out *o, const char *s, size_t n)
{
    if (o->len + n > sizeof(o->buf))
        out_flush(o);
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

/* Writes v in decimal; the caller leaves room for 20 bytes. */
static size_t fmt_u64(char *dst, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        dst[i] = tmp[n - 1 - i];
    return n;
}

/* Writes m * 10^-decimals the way Go's shortest float format does for
 * such values: no trailing zeros, no trailing dot. */
static size_t fmt_decimal(char *dst, int64_t m, int decimals)
{
    size_t n = 0;
    if (m < 0) {
        dst[n++] = '-';
        m = -m;
    }
    uint64_t pow = 1;
    for (int i = 0; i < decimals; i++)
        pow *= 10;
    uint64_t ip = (uint64_t)m / pow, fp = (uint64_t)m % pow;
    n += fmt_u64(dst + n, ip);
    if (fp) {
        dst[n++] = '.';
        for (int i = decimals - 1; i >= 0; i--) {
            dst[n + (size_t)i] = (char)('0' + fp % 10);
            fp /= 10;
        }
        n += (size_t)decimals;
        while (dst[n - 1] == '0')
            n--;
    }
    return n;
}

/* One sample line: prefix (name and labels, then a space), value, time. */
static void out_sample(struct out *o, const char *prefix, size_t plen,
                       const char *value, size_t vlen, int64_t ts_s)
{
    if (o->len + plen + vlen + 24 > sizeof(o->buf))
        out_flush(o);
    memcpy(o->buf + o->len, prefix, plen);
    o->len += plen;
    memcpy(o->buf + o->len, value, vlen);
    o->len += vlen;
    o->buf[o->len++] = ' ';
    o->len += fmt_u64(o->buf + o->len, (uint64_t)ts_s);
    o->buf[o->len++] = '\n';
    o->samples++;
}

/* ---- one series ------------------------------------------------------- */

struct series {
    const struct family *f;
    const struct host *h;
    size_t host_idx;
    double weight;
    char prefix[512];
    size_t plen;
};

static double host_scale(const struct family *f, const struct host *h)
{
    switch (f->scale) {
    case S_ONE: return 1;
    case S_LOAD: return h->load;
    case S_MEM: return h->mem_bytes;
    case S_DISK: return h->disk_bytes;
    }
    return 1;
}

static int64_t round_to(double x, int64_t quantum)
{
    return (int64_t)llround(x / (double)quantum) * quantum;
}

/* Writes the samples of series s over all scrapes. Values are integers m
 * standing for m * 10^-decimals, except for the high-entropy kinds. */
static void write_series(struct out *o, const struct series *s, const struct config *c,
                         uint64_t series_idx)
{
    const struct family *f = s->f;
    const struct host *h = s->h;
    struct rng r = {hash3(c->seed, 0x5e41e5, series_idx)};
    double unit_scale = pow(10, f->decimals);
    double mean = f->a * host_scale(f, h) * s->weight * unit_scale;
    double per_scrape = mean * (double)c->interval_s; /* counters */
    /* Counters start where the host's uptime has brought them. */
    double acc = f->kind == K_COUNTER
        ? mean * (double)(c->start_s - h->boot_s) * (0.8 + 0.4 * rng_unit(&r)) : mean;
    int64_t boot = h->boot_s;
    char val[64];
    size_t vlen = 0;

    for (int64_t k = 0; k < c->scrapes; k++) {
        int64_t t = c->start_s + k * c->interval_s;
        if (k == h->reboot_at) {
            boot = t + (int64_t)(h->reboot_down * c->interval_s) - 20;
            acc = f->kind == K_COUNTER ? per_scrape * 0.5 : mean;
        }
        if (scrape_missing(h, c, s->host_idx, k))
            continue;
        switch (f->kind) {
        case K_CONST:
            vlen = fmt_decimal(val, round_to(mean, f->quantum), f->decimals);
            break;
        case K_COUNTER:
            /* Lognormal jitter, stochastic rounding: rare events still
             * happen at the right rate. */
            acc += floor(per_scrape * exp(f->b * rng_normal(&r) - f->b * f->b / 2) +
                         rng_unit(&r));
            vlen = fmt_decimal(val, round_to(acc, f->quantum), f->decimals);
            break;
        case K_WALK:
            acc += 0.02 * (mean - acc) + f->b * mean * rng_normal(&r);
            if (acc < 0)
                acc = 0;
            vlen = fmt_decimal(val, round_to(acc, f->quantum), f->decimals);
            break;
        case K_FLOAT:
            vlen = (size_t)snprintf(val, sizeof(val), "%.17g",
                                    f->a * exp(f->b * rng_normal(&r)));
            break;
        case K_TIME:
            vlen = (size_t)snprintf(val, sizeof(val), "%.17g",
                                    (double)t + 0.001 + 0.09 * rng_unit(&r));
            break;
        case K_BOOT:
            vlen = fmt_u64(val, (uint64_t)boot);
            break;
        }
        out_sample(o, s->prefix, s->plen, val, vlen, t);
    }
}

/* Formats `name{labels} ` into s->prefix. */
static void series_prefix(struct series *s, const char *host, size_t i1, size_t i2)
{
    const struct family *f = s->f;
    char extra[256] = "";
    if (f->extra) {
        const char *at = strstr(f->extra, "{host}");
        if (at)
            snprintf(extra, sizeof(extra), "%.*s%s%s", (int)(at - f->extra), f->extra,
                     host, at + 6);
        else
            snprintf(extra, sizeof(extra), "%s", f->extra);
    }
    int n = snprintf(s->prefix, sizeof(s->prefix), "%s{", f->name);
    if (f->d1)
        n += snprintf(s->prefix + n, sizeof(s->prefix) - (size_t)n, "%s=\"%s\",",
                      f->d1->label, f->d1->values[i1]);
    if (f->d2)
        n += snprintf(s->prefix + n, sizeof(s->prefix) - (size_t)n, "%s=\"%s\",",
                      f->d2->label, f->d2->values[i2]);
    if (extra[0])
        n += snprintf(s->prefix + n, sizeof(s->prefix) - (size_t)n, "%s,", extra);
    n += snprintf(s->prefix + n, sizeof(s->prefix) - (size_t)n,
                  "instance=\"%s:9100\",job=\"node\"} ", host);
    s->plen = (size_t)n;
}

/* The family name in # TYPE / # HELP: counters drop their _total. */
static void write_header(struct out *o, const struct family *f)
{
    char line[512];
    size_t n = strlen(f->name);
    if (strcmp(f->type, "counter") == 0)
        n -= strlen("_total");
    int len = snprintf(line, sizeof(line), "# HELP %.*s %s\n# TYPE %.*s %s\n", (int)n,
                       f->name, f->help, (int)n, f->name, f->type);
    out_str(o, line, (size_t)len);
}

static size_t series_per_host(void)
{
    size_t n = 0;
    for (size_t i = 0; i < NFAMILIES; i++)
        n += family_len(&families[i]);
    return n;
}

static void usage(void)
{
    fprintf(stderr, "usage: gen_openmetrics [-m MISSING] [-r REBOOTS_PER_DAY] "
                    "[-s START_S] SERIES HOURS INTERVAL_S SEED\n");
    exit(2);
}

static double parse_num(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < 0)
        usage();
    return v;
}

int main(int argc, char **argv)
{
    struct config c = {.start_s = 1767225600, .missing = 0.0005, .reboots_per_day = 0.15};
    int opt;
    while ((opt = getopt(argc, argv, "m:r:s:")) != -1) {
        switch (opt) {
        case 'm': c.missing = parse_num(optarg); break;
        case 'r': c.reboots_per_day = parse_num(optarg); break;
        case 's': c.start_s = (int64_t)parse_num(optarg); break;
        default: usage();
        }
    }
    if (argc - optind != 4)
        usage();
    size_t nseries = (size_t)parse_num(argv[optind]);
    double hours = parse_num(argv[optind + 1]);
    c.interval_s = (int64_t)parse_num(argv[optind + 2]);
    c.seed = (uint64_t)parse_num(argv[optind + 3]);
    if (nseries == 0 || c.interval_s <= 0)
        usage();
    c.scrapes = (int64_t)(hours * 3600 / (double)c.interval_s);

    size_t per_host = series_per_host();
    size_t nhosts = (nseries + per_host - 1) / per_host;
    size_t last_host_series = nseries - (nhosts - 1) * per_host;
    struct host *hosts = calloc(nhosts, sizeof(*hosts));
    struct out *o = calloc(1, sizeof(*o));
    if (!hosts || !o) {
        fprintf(stderr, "gen_openmetrics: out of memory\n");
        return 1;
    }
    for (size_t h = 0; h < nhosts; h++)
        host_init(&hosts[h], &c, h);

    /* Series are numbered per host in family order; the last host keeps
     * only its first last_host_series so the total is exactly nseries. */
    size_t family_base = 0;
    for (size_t fi = 0; fi < NFAMILIES; fi++) {
        const struct family *f = &families[fi];
        write_header(o, f);
        for (size_t h = 0; h < nhosts; h++) {
            char host[32];
            snprintf(host, sizeof(host), "host-%03zu", h);
            for (size_t i1 = 0; i1 < dim_len(f->d1); i1++) {
                for (size_t i2 = 0; i2 < dim_len(f->d2); i2++) {
                    size_t in_host = family_base + i1 * dim_len(f->d2) + i2;
                    if (h == nhosts - 1 && in_host >= last_host_series)
                        continue;
                    struct series s = {.f = f, .h = &hosts[h], .host_idx = h,
                                       .weight = dim_weight(f->d1, i1) *
                                                 dim_weight(f->d2, i2)};
                    series_prefix(&s, host, i1, i2);
                    write_series(o, &s, &c, h * per_host + in_host);
                }
            }
        }
        family_base += family_len(f);
    }
    out_str(o, "# EOF\n", 6);
    out_flush(o);
    if (fflush(stdout) != 0) {
        perror("gen_openmetrics: write");
        return 1;
    }
    fprintf(stderr, "series=%zu samples=%" PRIu64 " mint=%" PRId64 " maxt=%" PRId64
                    " hosts=%zu\n",
            nseries, o->samples, c.start_s, c.start_s + (c.scrapes - 1) * c.interval_s,
            nhosts);
    free(hosts);
    free(o);
    return 0;
}
