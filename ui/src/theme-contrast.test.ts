/** The light theme's coloured text (badges, pills, counts) is readable: WCAG AA's 4.5:1 on white and on its own soft
 * background. A probe measured 3.1:1 for the warning badges and the task pills. */
import { readFileSync } from 'node:fs'
import { expect, it } from 'vitest'

const css = readFileSync(new URL('./styles.css', import.meta.url), 'utf8')
const light = css.slice(0, css.indexOf('@media'))
const colour = (name: string): string => new RegExp(`--${name}:\\s*(#[0-9a-f]{6});`, 'i').exec(light)![1]

const luminance = (hex: string): number => {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4))
  return 0.2126 * r + 0.7152 * g + 0.0722 * b
}
const contrast = (a: string, b: string): number => {
  const [high, low] = [luminance(a), luminance(b)].sort((x, y) => y - x)
  return (high + 0.05) / (low + 0.05)
}

it.each(['error', 'warning', 'ok', 'accent'])('writes %s text at 4.5:1 or more on white and on its soft background', (name) => {
  expect(contrast(colour(name), colour('bg'))).toBeGreaterThanOrEqual(4.5)
  expect(contrast(colour(name), colour(`${name}-soft`))).toBeGreaterThanOrEqual(4.5)
})
