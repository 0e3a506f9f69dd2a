// Where the backend and the torch backend's device come from when a call does not force them:
// the environment first (RETAIL_REPR_BACKEND, RETAIL_REPR_DEVICE: what --backend and --device set,
// and what child processes inherit), else the profile's `engine` keys among the overrides the
// environment carries (RETAIL_REPR_CONFIG, RETAIL_REPR_SET: where --config and --set put theirs).
import { applyOverrides, CONFIG_ENV, envOverrides, SET_ENV } from "../config/overrides";
import { PROFILES } from "../config/profiles";

export const BACKEND_ENV = "RETAIL_REPR_BACKEND";
export const DEVICE_ENV = "RETAIL_REPR_DEVICE";

/** A value and where it was set, for the messages that name it. */
export interface Configured {
  value: string;
  source: string;
}

export function configuredEngine(env: NodeJS.ProcessEnv = process.env): { backend?: Configured; device?: Configured } {
  const fromEnv = (key: string): Configured | undefined => {
    const value = env[key]?.trim();
    return value ? { value, source: key } : undefined;
  };
  let backend = fromEnv(BACKEND_ENV);
  let device = fromEnv(DEVICE_ENV);
  if (backend && device) return { backend, device };
  const { engine } = envOverrides(env);
  if (engine !== undefined) {
    // Checked by the profile's schema, so a bad value is refused with the key it came from.
    const source = `${CONFIG_ENV} / ${SET_ENV}`;
    const e = applyOverrides(PROFILES.cpu, { engine }, source).engine;
    if (e.backend !== "auto") backend ??= { value: e.backend, source: `engine.backend (${source})` };
    if (e.device) device ??= { value: e.device, source: `engine.device (${source})` };
  }
  return { backend, device };
}
