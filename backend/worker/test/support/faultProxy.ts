/** The test kit's loopback FaultProxy, started in front of `target` with scripted faults (see ScriptedFault). */
import { FaultProxy, type ScriptedFault } from '@mobvibe/testkit';

export type Fault = ScriptedFault;
export type { FaultProxy };

export async function startFaultProxy(target: string, faults: Fault[] = []): Promise<FaultProxy> {
  const proxy = new FaultProxy(Number(new URL(target).port));
  proxy.faults.push(...faults);
  await proxy.listen();
  return proxy;
}
