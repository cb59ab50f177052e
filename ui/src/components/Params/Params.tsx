/** A query's parameter values, as text (never HTML), in the way Python prints them. */
import type { Params as ParamList } from '../../../../server/src/protocol.js'
import { formatParam, formatParams } from '../../lib/format.js'

export function Params({ params, many = false }: { params: ParamList; many?: boolean }) {
  if (params === null) return <span class="params params--off">parameter capture is off</span>
  if (many && Array.isArray(params)) {
    return (
      <ol class="params params--rows" data-testid="params">
        {params.map((row) => <li>{Array.isArray(row) ? formatParams(row) : formatParam(row)}</li>)}
      </ol>
    )
  }
  return <code class="params" data-testid="params">{formatParams(params)}</code>
}
