import t from 'tap'
import { slope } from '../helpers/trend.js'

t.test('slope: least squares over noisy and degenerate series', async t => {
  t.equal(slope([{ x: 0, y: 1 }, { x: 1, y: 3 }, { x: 2, y: 5 }]), 2, 'exact line')
  t.equal(slope([{ x: 0, y: 0 }, { x: 1, y: 1 }, { x: 2, y: 0 }, { x: 3, y: 1 }]), 0.2, 'zig-zag keeps a small trend')
  t.equal(slope([{ x: 5, y: 1 }, { x: 5, y: 9 }]), 0, 'no spread in x')
  t.equal(slope([{ x: 1, y: 1 }]), 0, 'one point')
})
