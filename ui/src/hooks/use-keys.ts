/** Page-wide keyboard shortcuts that stay out of the way while the user types in a field. @module */
import { useEffect, useRef } from 'preact/hooks'

export type KeyHandler = (event: KeyboardEvent) => boolean | void

/** Calls `handler` for keys pressed outside text fields; when it returns true the key is consumed. */
export function useKeys(handler: KeyHandler, enabled = true): void {
  const ref = useRef(handler)
  ref.current = handler
  useEffect(() => {
    if (!enabled) return
    const listener = (event: KeyboardEvent) => {
      if (event.defaultPrevented || event.metaKey || event.ctrlKey || event.altKey) return
      if (isTyping(event.target)) return
      // Enter and Space on a focused button or link are that control's, not a shortcut's.
      if ((event.key === 'Enter' || event.key === ' ') && isControl(event.target)) return
      if (ref.current(event) === true) event.preventDefault()
    }
    addEventListener('keydown', listener)
    return () => removeEventListener('keydown', listener)
  }, [enabled])
}

function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false
  if (target.isContentEditable) return true
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true
  return target instanceof HTMLInputElement && !['checkbox', 'radio', 'button'].includes(target.type)
}

function isControl(target: EventTarget | null): boolean {
  return target instanceof HTMLElement && target.closest('button, a[href], summary, select, [role="button"], [role="link"]') !== null
}
