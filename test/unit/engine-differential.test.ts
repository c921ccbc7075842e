import t from 'tap'
import { rng, requestStream } from '../helpers/request-streams.js'
import { LlhttpOracle, disagreement, engineFraming } from '../helpers/llhttp-oracle.js'
import { SCALE, figure } from '../helpers/figures.js'

/**
 * The engine's request parser against llhttp (node's parser) on the same seeded request streams
 * (pipelines, chunked bodies, smuggling-style field mutations, byte mutations, random splits):
 * the engine may refuse more than llhttp, but every head it accepts and every body it completes
 * must be exactly what llhttp saw. `npm test` runs 20 000 cases; `npm run test:reliability`
 * (scale 10) 1.2 million.
 */
const CASES = SCALE > 1 ? 120_000 * SCALE : 20_000
const SEED = Number(process.env.PORTICO_FUZZ_SEED ?? 20261201)
/** Cases in flight at once: the oracle's per-case cost is mostly waiting for event loop turns. */
const PARALLEL = 32

t.test(`${CASES} generated request streams: the engine never accepts or frames what llhttp would not`, async t => {
  const oracle = new LlhttpOracle()
  t.teardown(() => oracle.close())
  const r = rng(SEED)
  const tally = { engineMessages: 0, llhttpMessages: 0, engineRefused: 0 }
  const failures: string[] = []
  for (let done = 0; done < CASES && failures.length < 5;) {
    const batch = Array.from({ length: Math.min(PARALLEL, CASES - done) }, () => requestStream(r))
    done += batch.length
    const results = await Promise.all(batch.map(async c => ({ c, e: engineFraming(c.pieces), l: await oracle.framing(c.pieces) })))
    for (const { c, e, l } of results) {
      tally.engineMessages += e.messages.length
      tally.llhttpMessages += l.messages.length
      if (e.error !== undefined) tally.engineRefused++
      const why = disagreement(e, l)
      if (why !== undefined) failures.push(`${why}\n stream ${JSON.stringify(c.bytes.toString('latin1'))} pieces ${c.pieces.map(p => p.length).join(',')}`)
    }
  }
  t.same(failures, [], 'no stream the engine accepts or frames differently from llhttp')
  // The generator must keep producing accepted pipelines, or the comparison says nothing.
  t.ok(tally.engineMessages > CASES * 0.3, `the engine accepted ${tally.engineMessages} messages`)
  figure({
    case: 'engine request parser vs llhttp (differential fuzz)',
    tried: 'seeded pipelines: chunked/Content-Length bodies, smuggling-style field mutations, byte mutations, random splits',
    count: CASES,
    result: `${failures.length} disagreements; engine accepted ${tally.engineMessages} heads (llhttp ${tally.llhttpMessages}), refused ${tally.engineRefused} streams`
  })
})
