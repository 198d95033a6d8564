import { MetricUnit, Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';

/** The metrics the worker and the sync publish: counts, milliseconds for names ending in `Ms`, seconds for `Seconds`. */
export const METRIC_NAMES = [
  'JobsApplied',
  'JobsRequeued',
  'JobsDeadLettered',
  'JobsSuperseded',
  'EffectsSkipped',
  'LedgerRecordFailed',
  'RateLimited',
  'CallsPaced',
  'PacedWaitMs',
  'TokensFetched',
  'GroupedCalls',
  'GroupedUsers',
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
  /**
   * Writes the values gathered since the last flush (if any) and resets them; with `dimension`, once more
   * under it (the producer whose queue the invocation took, say), beside the sums under `service` alone.
   */
  flush(dimension?: { readonly name: string; readonly value: string }): void;
  /**
   * Publishes one count at once, on its own line, with an extra dimension that names what it counts (a
   * blocked role, say); the sums under `service` alone are left to {@link add}.
   */
  addNamed(name: MetricName, dimension: { readonly name: string; readonly value: string }, count?: number): void;
  /** Publishes Powertools' `ColdStart` metric (dimension `function_name`) on a container's first invocation. */
  captureColdStart(functionName: string): void;
}

/**
 * Creates a metrics sink on Powertools for AWS Lambda (TypeScript), in CloudWatch's embedded metric format:
 * CloudWatch turns the log line into metrics, so publishing costs no API call and no latency. Dimension
 * `service`. Values are summed (or maximised) here between flushes, so each name is one value per line.
 * Lines go to stdout, or to `write` when given (tests).
 * See https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 */
export function createMetrics(options: { namespace: string; service: string; write?: (line: string) => void }): Metrics {
  const powertools = new PowertoolsMetrics({ namespace: options.namespace, serviceName: options.service });
  const values = new Map<MetricName, number>();
  const named = new PowertoolsMetrics({ namespace: options.namespace, serviceName: options.service });
  return {
    add(name, count = 1) {
      values.set(name, (values.get(name) ?? 0) + count);
    },
    maximum(name, value) {
      values.set(name, Math.max(values.get(name) ?? value, value));
    },
    flush(dimension) {
      if (values.size === 0) return;
      const publish = (instance: PowertoolsMetrics) => {
        for (const [name, value] of values) instance.addMetric(name, unitOf(name), value);
        if (options.write === undefined) {
          instance.publishStoredMetrics();
        } else {
          options.write(JSON.stringify(instance.serializeMetrics()));
          instance.clearMetrics();
        }
      };
      publish(powertools);
      if (dimension !== undefined) {
        named.addDimension(dimension.name, dimension.value);
        publish(named);
        named.clearDimensions();
      }
      values.clear();
    },
    addNamed(name, dimension, count = 1) {
      // Its own instance: Powertools' singleMetric() publishes to the console at once, past `write`.
      named.addDimension(dimension.name, dimension.value);
      named.addMetric(name, unitOf(name), count);
      if (options.write === undefined) {
        named.publishStoredMetrics();
      } else {
        options.write(JSON.stringify(named.serializeMetrics()));
        named.clearMetrics();
      }
      named.clearDimensions();
    },
    captureColdStart(functionName) {
      powertools.captureColdStartMetric(functionName);
    },
  };
}

function unitOf(name: MetricName): (typeof MetricUnit)[keyof typeof MetricUnit] {
  return name.endsWith('Ms') ? MetricUnit.Milliseconds : name.endsWith('Seconds') ? MetricUnit.Seconds : MetricUnit.Count;
}
