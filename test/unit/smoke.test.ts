import t from 'tap'
t.equal(process.version.startsWith('v24'), true, process.version)
