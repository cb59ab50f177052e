/** The overlay's stylesheet, scoped to its shadow root: the page's CSS cannot reach in, and this cannot leak out. @module */
import { TONE_COLOURS, type Tone } from './overlay-model.js'

const tones = (Object.keys(TONE_COLOURS) as Tone[])
  .map((tone) => `.qs-badge.qs-tone-${tone},.qs-dot.qs-tone-${tone}{background:${TONE_COLOURS[tone].background};color:${TONE_COLOURS[tone].text}}` +
    `.qs-finding.qs-tone-${tone}{border-left-color:${TONE_COLOURS[tone].background}}` +
    `.qs-finding.qs-tone-${tone} .qs-pill{background:${TONE_COLOURS[tone].background};color:${TONE_COLOURS[tone].text}}`)
  .join('')

export const OVERLAY_CSS = `
:host{all:initial}
*{box-sizing:border-box}
.qs{position:fixed;z-index:2147483647;display:flex;gap:8px;max-width:calc(100vw - 24px);
  font:12px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;text-align:left;direction:ltr}
.qs--bottom-right{right:12px;bottom:12px;flex-direction:column;align-items:flex-end}
.qs--bottom-left{left:12px;bottom:12px;flex-direction:column;align-items:flex-start}
.qs--top-left{left:12px;top:12px;flex-direction:column-reverse;align-items:flex-start}
.qs--top-right{right:12px;top:12px;flex-direction:column-reverse;align-items:flex-end}
.qs-bar{display:flex;gap:4px;align-items:center}
button{font:inherit;margin:0;border:0;cursor:pointer;border-radius:999px;line-height:1.2}
button:focus-visible,a:focus-visible{outline:2px solid #2e90fa;outline-offset:2px}
.qs-badge{display:inline-flex;gap:8px;align-items:center;padding:6px 12px;font-weight:600;white-space:nowrap;
  box-shadow:0 2px 8px rgba(16,24,40,.25)}
.qs-badge--small{min-width:28px;justify-content:center;padding:6px 8px}
.qs-extra{font-weight:400;opacity:.85}
.qs-tool{width:24px;height:24px;padding:0;background:#fff;color:#344054;box-shadow:0 1px 4px rgba(16,24,40,.25)}
.qs-tool:hover{background:#f2f4f7}
.qs-panel{width:440px;max-width:100%;max-height:min(70vh,640px);overflow:auto;background:#fff;border:1px solid #d0d5dd;
  border-radius:10px;box-shadow:0 8px 28px rgba(16,24,40,.28)}
.qs-head{display:flex;justify-content:space-between;align-items:baseline;padding:8px 12px;background:#f9fafb;
  border-bottom:1px solid #eaecf0;font-size:12px}
.qs-section{padding:4px 0 8px}
.qs-row{display:flex;gap:8px;align-items:center;padding:6px 12px;color:#1f2328;text-decoration:none}
.qs-row:hover{background:#f2f4f7}
.qs-dot{flex:none;width:9px;height:9px;border-radius:50%}
.qs-label{flex:1 1 auto;min-width:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;font-family:ui-monospace,Menlo,monospace}
.qs-status{flex:none;font-family:ui-monospace,Menlo,monospace;color:#475467}
.qs-status--warning{color:#b54708;font-weight:600}
.qs-status--error{color:#b42318;font-weight:600}
.qs-counts{flex:none;color:#475467}
.qs-open{flex:none;color:#98a2b3}
.qs-sub{display:flex;gap:6px;padding:0 12px 4px 29px;color:#475467}
.qs-sub .qs-site{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.qs-muted{color:#667085}
.qs-pad{margin:6px 12px}
.qs-finding{margin:6px 12px;padding:6px 8px;border:1px solid #eaecf0;border-left:4px solid #98a2b3;border-radius:6px}
.qs-finding header{display:flex;gap:8px;align-items:center;margin-bottom:4px}
.qs-pill{padding:1px 6px;border-radius:4px;font-weight:600;font-size:11px}
.qs-sql{display:block;color:#475467;font:11px/1.4 ui-monospace,Menlo,monospace;word-break:break-word}
.qs-fix{margin:4px 0}
.qs-code{margin:4px 0;padding:6px 8px;overflow:auto;background:#f2f4f7;border-radius:4px;font:11px/1.4 ui-monospace,Menlo,monospace;
  white-space:pre}
.qs-site{color:#667085;font:11px/1.4 ui-monospace,Menlo,monospace;word-break:break-all}
${tones}
`
