// Gradient kernels the stock backends lack, registered through tfjs's public kernel registry.
// Filled in by the training-engine work; selection calls this for every backend it activates.
const registered = new Set<string>();

export function registerProjectKernels(backend: string): void {
  if (registered.has(backend)) return;
  registered.add(backend);
}
