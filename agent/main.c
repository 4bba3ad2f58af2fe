/* main.c — the vigild command line: flags, --check-config, --help,
 * --version; everything else is daemon_run. Exit status 0 on success, 1 on
 * a configuration or startup error, 2 on a usage error. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "log.h"

static const char usage_text[] =
    "usage: vigild [--config FILE] [--data-dir DIR] [--http-listen ADDR:PORT]\n"
    "              [--statsd-listen ADDR:PORT] [--log-level debug|info|warn|error]\n"
    "              [--check-config] [--help] [--version]\n"
    "\n"
    "Vigil's agent: statsd / DogStatsD ingest (UDP and TCP), Prometheus\n"
    "scraping, the time-series store, recording and alerting rules with\n"
    "notifications (Alertmanager, webhook, exec), and an HTTP server with the\n"
    "Prometheus query API, /metrics, /-/healthy and /-/ready.\n"
    "Without --config it runs on embedded defaults: statsd on 127.0.0.1:8125,\n"
    "HTTP on 127.0.0.1:9190, data in ./vigil-data. Flags override the file.\n"
    "\n"
    "  --config FILE             YAML configuration (docs/configuration.md)\n"
    "  --data-dir DIR            storage.data_dir\n"
    "  --http-listen ADDR:PORT   http.listen\n"
    "  --statsd-listen ADDR:PORT statsd.listen (UDP and TCP)\n"
    "  --log-level LEVEL         log.level\n"
    "  --check-config            validate the configuration, print \"config OK\" or\n"
    "                            the errors, exit 0 or 1\n"
    "\n"
    "Signals: SIGTERM/SIGINT flush and exit 0; SIGHUP reloads the config file\n"
    "and the rule files.\n";

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"data-dir", required_argument, NULL, 'd'},
        {"http-listen", required_argument, NULL, 'H'},
        {"statsd-listen", required_argument, NULL, 'S'},
        {"log-level", required_argument, NULL, 'l'},
        {"check-config", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct daemon_args a = {0};
    int check = 0, opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': a.config_path = optarg; break;
        case 'd': a.overrides.data_dir = optarg; break;
        case 'H': a.overrides.http_listen = optarg; break;
        case 'S': a.overrides.statsd_listen = optarg; break;
        case 'l':
            if (vlog_level_parse(optarg, &a.overrides.log_level) != 0) {
                fprintf(stderr, "vigild: --log-level must be debug, info, warn or error\n");
                return 2;
            }
            a.overrides.has_log_level = 1;
            break;
        case 'k': check = 1; break;
        case 'h': fputs(usage_text, stdout); return 0;
        case 'V': printf("vigild %s\n", VIGILD_VERSION); return 0;
        default:
            if (optopt)
                fprintf(stderr, "vigild: option %s needs a value\n", argv[optind - 1]);
            else
                fprintf(stderr, "vigild: unknown option %s\n", argv[optind - 1]);
            fputs(usage_text, stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vigild: unexpected argument %s\n", argv[optind]);
        fputs(usage_text, stderr);
        return 2;
    }
    if (check) {
        struct config c;
        if (daemon_load_config(&a, &c) != 0)
            return 1;
        config_free(&c);
        puts("config OK");
        return 0;
    }
    return daemon_run(&a);
}
