/** Whether an element has come near the viewport: panels fetch nothing until it has. */
import { useEffect, useRef, useState } from "preact/hooks";
import type { RefObject } from "preact";

/**
 * A ref to put on the element, and whether it has come within 200 px of the viewport; true once
 * it has, for good (a panel scrolled past keeps what it fetched).
 */
export function useNearViewport<T extends Element>(): [RefObject<T | null>, boolean] {
  const box = useRef<T>(null);
  const [seen, setSeen] = useState(false);
  useEffect(() => {
    if (seen || !box.current) return;
    const io = new IntersectionObserver((es) => es.some((e) => e.isIntersecting) && setSeen(true), { rootMargin: "200px" });
    io.observe(box.current);
    return () => io.disconnect();
  }, [seen]);
  return [box, seen];
}
