/**
 * Admission control settings: when an instance refuses new calls because it is busy (see
 * `src/server/admission-control.ts`). Environment over the file's `admission` section.
 */
import { z } from 'zod';
import { ConfigError } from './config-error.js';

/** Admission control settings (`Config.admission`). */
export interface AdmissionSettings {
  /** Refuse new calls when a limit below is exceeded. Default true (`ADMISSION_CONTROL`). */
  enabled: boolean;
  /**
   * Mean event-loop lag over the last 5 s above which new calls are refused, milliseconds.
   * Default {@link DEFAULT_ADMISSION_MAX_EVENT_LOOP_LAG_MS} (`ADMISSION_MAX_EVENT_LOOP_LAG_MS`).
   */
  maxEventLoopLagMs: number;
  /**
   * CPU of the main thread over the last 5 s above which new calls are refused, as a share of one
   * core (0.9 = busy 90 % of the time; measured as event-loop utilization). Default
   * {@link DEFAULT_ADMISSION_MAX_CPU} (`ADMISSION_MAX_CPU`).
   */
  maxCpu: number;
}

/**
 * Default lag limit, ms: a loop that is on average 100 ms late delivers 20 ms frames in bursts
 * (the media frame clock resyncs at 100 ms behind), so more calls would only make every call
 * worse. Well above the 0-5 ms of an idle loop and the 10-30 ms of a busy shared machine.
 */
export const DEFAULT_ADMISSION_MAX_EVENT_LOOP_LAG_MS = 100;
/**
 * Default CPU limit, share of one core: the connector's JavaScript (media legs to Meta included)
 * runs on the main thread, so a core is its ceiling; 10 % is left for call setup bursts (DTLS,
 * SDP) and GC.
 */
export const DEFAULT_ADMISSION_MAX_CPU = 0.9;

/** The `admission` section of the configuration file. */
export const admissionFileSchema = z
  .object({
    enabled: z.boolean().optional(),
    max_event_loop_lag_ms: z.coerce.number().positive().optional(),
    max_cpu: z.coerce.number().positive().optional(),
  })
  .strict();

function positive(setting: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) {
    throw new ConfigError(setting, `expected a number > 0, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** Read the admission settings: environment over the file's `admission` section. */
export function loadAdmissionSettings(
  env: NodeJS.ProcessEnv,
  file: z.infer<typeof admissionFileSchema> | undefined,
): AdmissionSettings {
  let enabled = file?.enabled ?? true;
  const raw = env.ADMISSION_CONTROL;
  if (raw !== undefined && raw !== '') {
    if (/^(1|true|yes|on)$/i.test(raw)) enabled = true;
    else if (/^(0|false|no|off)$/i.test(raw)) enabled = false;
    else
      throw new ConfigError(
        'ADMISSION_CONTROL',
        `expected true or false, got ${JSON.stringify(raw)}`,
      );
  }
  const maxCpu = positive(
    'ADMISSION_MAX_CPU',
    env.ADMISSION_MAX_CPU,
    file?.max_cpu ?? DEFAULT_ADMISSION_MAX_CPU,
  );
  if (maxCpu > 1) {
    throw new ConfigError(
      'ADMISSION_MAX_CPU',
      `expected a share of one core (0 < x <= 1), got ${maxCpu}`,
    );
  }
  return {
    enabled,
    maxEventLoopLagMs: positive(
      'ADMISSION_MAX_EVENT_LOOP_LAG_MS',
      env.ADMISSION_MAX_EVENT_LOOP_LAG_MS,
      file?.max_event_loop_lag_ms ?? DEFAULT_ADMISSION_MAX_EVENT_LOOP_LAG_MS,
    ),
    maxCpu,
  };
}
