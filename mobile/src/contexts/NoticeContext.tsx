import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';

export type NoticeKind = 'preview' | 'error' | 'completion';

/** A short in-app message about something that just happened in a session. */
export interface Notice {
  id: string;
  kind: NoticeKind;
  title: string;
  message: string;
  /** A link the notice offers (the preview URL). */
  url?: string;
}

interface NoticeContextValue {
  notices: Notice[];
  show: (notice: Notice) => void;
  dismiss: (id: string) => void;
}

const NoticeContext = createContext<NoticeContextValue | null>(null);

/** How long a notice stays unless dismissed; errors stay longer. */
const LIFETIME_MS: Record<NoticeKind, number> = { preview: 8_000, completion: 6_000, error: 12_000 };
/** At most this many notices at once; the oldest goes first. */
const MAX_NOTICES = 3;

/**
 * Holds the in-app notices. Each notice removes itself after its lifetime (one timeout per notice).
 *
 * @example
 * const { show } = useNotices();
 * show({ id: event.id, kind: 'completion', title: 'Session complete', message: event.data.message });
 */
export function NoticeProvider({ children }: { children?: ReactNode }) {
  const [notices, setNotices] = useState<Notice[]>([]);
  const timers = useRef(new Map<string, ReturnType<typeof setTimeout>>());

  const dismiss = useCallback((id: string) => {
    clearTimeout(timers.current.get(id));
    timers.current.delete(id);
    setNotices((prev) => prev.filter((n) => n.id !== id));
  }, []);

  const show = useCallback(
    (notice: Notice) => {
      if (timers.current.has(notice.id)) return; // the same event is announced once
      timers.current.set(notice.id, setTimeout(() => dismiss(notice.id), LIFETIME_MS[notice.kind]));
      setNotices((prev) => [...prev, notice].slice(-MAX_NOTICES));
    },
    [dismiss],
  );

  useEffect(() => {
    const all = timers.current;
    return () => all.forEach((t) => clearTimeout(t));
  }, []);

  const value = useMemo(() => ({ notices, show, dismiss }), [notices, show, dismiss]);
  return <NoticeContext.Provider value={value}>{children}</NoticeContext.Provider>;
}

export function useNotices(): NoticeContextValue {
  const value = useContext(NoticeContext);
  if (!value) throw new Error('useNotices: no NoticeProvider. Wrap the app in <NoticeProvider>.');
  return value;
}
