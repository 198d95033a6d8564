/** The metrics the worker and the sync publish: counts, milliseconds for names ending in `Ms`, seconds for `Seconds`. */
export const METRIC_NAMES = [
  'JobsApplied',
  'JobsRequeued',
  'JobsDeadLettered',
  'RateLimited',
  'CallsPaced',
  'PacedWaitMs',
  'TokensFetched',
  'OldestJobAgeSeconds',
  'SyncRoleAdds',
  'SyncRoleRemoves',
  'SyncMetadataUpdates',
  'SyncSkippedLines',
  'SyncReads',
  'SyncAborted',
  'SyncRemovalsBlocked',
] as const;

/** One of the worker's metrics. */
export type MetricName = (typeof METRIC_NAMES)[number];

/** Counters and maxima that are published as one CloudWatch embedded-metric-format line per flush. */
export interface Metrics {
  add(name: MetricName, count?: number): void;
  /** Keeps the largest value given since the last flush (an age, say). */
  maximum(name: MetricName, value: number): void;
  /** Writes the counts gathered since the last flush (if any) and resets them. */
  flush(): void;
}

/**
 * Creates a metrics sink in CloudWatch's embedded metric format: CloudWatch turns the log line into
 * metrics, so publishing costs no API call and no extra latency.
 * See https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 */
export function createMetrics(options: {
  namespace: string;
  service: string;
  now?: () => number;
  write?: (line: string) => void;
}): Metrics {
  const { namespace, service, now = Date.now, write = (line: string) => process.stdout.write(`${line}\n`) } = options;
  const counts = new Map<MetricName, number>();
  return {
    add(name, count = 1) {
      counts.set(name, (counts.get(name) ?? 0) + count);
    },
    maximum(name, value) {
      counts.set(name, Math.max(counts.get(name) ?? value, value));
    },
    flush() {
      if (counts.size === 0) return;
      const names = [...counts.keys()];
      write(
        JSON.stringify({
          _aws: {
            Timestamp: now(),
            CloudWatchMetrics: [
              { Namespace: namespace, Dimensions: [['service']], Metrics: names.map((Name) => ({ Name, Unit: unitOf(Name) })) },
            ],
          },
          service,
          ...Object.fromEntries(counts),
        }),
      );
      counts.clear();
    },
  };
}

function unitOf(name: MetricName): 'Milliseconds' | 'Seconds' | 'Count' {
  return name.endsWith('Ms') ? 'Milliseconds' : name.endsWith('Seconds') ? 'Seconds' : 'Count';
}
