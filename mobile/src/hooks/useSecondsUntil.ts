import { useEffect, useState } from 'react';

/**
 * Whole seconds until `deadline` (epoch ms), counting down once a second while there is a deadline.
 * This is a display clock for a known retry time, not a poll of the connection.
 */
export function useSecondsUntil(deadline: number | undefined, now: () => number = Date.now): number | undefined {
  const [seconds, setSeconds] = useState(() => remaining(deadline, now()));
  useEffect(() => {
    if (deadline === undefined) {
      setSeconds(undefined);
      return;
    }
    let timer: ReturnType<typeof setTimeout>;
    const tick = () => {
      const left = remaining(deadline, now());
      setSeconds(left);
      // Wake up right after the next whole-second boundary, and stop at zero.
      if (left! > 0) timer = setTimeout(tick, ((deadline - now()) % 1000) + 5);
    };
    tick();
    return () => clearTimeout(timer);
  }, [deadline, now]);
  return seconds;
}

function remaining(deadline: number | undefined, now: number): number | undefined {
  return deadline === undefined ? undefined : Math.max(0, Math.ceil((deadline - now) / 1000));
}
