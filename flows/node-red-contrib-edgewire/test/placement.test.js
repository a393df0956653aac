// Placement and the cut, on flow exports shaped as Node-RED 4.1 writes them.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { computePlacement, uriSafe, wireTopic } = require('../lib/placement');

const tab = (id, extra = {}) => Object.assign({ id, type: 'tab', label: id, disabled: false, info: '', env: [] }, extra);
const node = (id, z, wires = [], extra = {}) => Object.assign({ id, type: 'change', z, wires }, extra);

test('a node goes to its own board, else its group env, else its tab, else the cloud', () => {
  const flows = [
    tab('t1', { env: [{ name: 'EDGEWIRE_BOARD', value: 'brd-tab', type: 'str' }] }),
    tab('t2'),
    tab('t3', { board: 'brd-tabprop' }),
    { id: 'g1', type: 'group', z: 't2', nodes: ['b'], env: [{ name: 'EDGEWIRE_BOARD', value: 'brd-group', type: 'str' }] },
    { id: 'g2', type: 'group', z: 't2', g: 'g1', nodes: ['c'] },
    node('a', 't2', [], { board: 'brd-own' }),
    node('b', 't2', [], { g: 'g1' }),
    node('c', 't2', [], { g: 'g2' }),
    node('d', 't1'),
    node('e', 't2'),
    node('f', 't3'),
    node('h', 't1', [], { board: '' }),
    { id: 'cfg', type: 'edgewire-conductor', url: 'http://x' },
  ];
  const p = computePlacement(flows);
  assert.deepStrictEqual(['a', 'b', 'c', 'd', 'e', 'f', 'h'].map(p.boardOf),
    ['brd-own', 'brd-group', 'brd-group', 'brd-tab', '', 'brd-tabprop', 'brd-tab']);
  assert.strictEqual(p.boardOf('cfg'), undefined);
  assert.strictEqual(p.boardOf('t1'), undefined);
  assert.deepStrictEqual([...p.boards].sort(), ['brd-group', 'brd-own', 'brd-tab', 'brd-tabprop']);
});

test('env entries that are not plain strings place nothing', () => {
  const p = computePlacement([tab('t', { env: [{ name: 'EDGEWIRE_BOARD', value: 'X', type: 'env' }] }), node('a', 't')]);
  assert.strictEqual(p.boardOf('a'), '');
});

test('cross wires are found through junctions, one entry per source port', () => {
  const flows = [
    tab('t'),
    node('in', 't', [['j1'], ['cloud2']], { type: 'edgewire-gpio-in', board: 'A' }),
    { id: 'j1', type: 'junction', z: 't', wires: [['cloud1', 'onA']] },
    node('cloud1', 't', [['outB', 'j2']]),
    { id: 'j2', type: 'junction', z: 't', wires: [['cloud3']] },
    node('cloud2', 't'),
    node('cloud3', 't'),
    node('onA', 't', [], { board: 'A' }),
    node('outB', 't', [], { type: 'edgewire-gpio-out', board: 'B' }),
  ];
  const p = computePlacement(flows);
  assert.deepStrictEqual(p.inbound.get('in:0').targets, ['cloud1']);
  assert.deepStrictEqual(p.inbound.get('in:1').targets, ['cloud2']);
  assert.deepStrictEqual([...p.outbound.get('cloud1:0').boards], ['B']);
  assert.strictEqual(p.outbound.size, 1);
  assert.ok(p.junctionReachesCloud('j1'));
  assert.ok(p.junctionReachesCloud('j2'));
  assert.ok(p.isJunction('j1'));
  assert.strictEqual(p.boardOf('j1'), undefined);
});

test('disabled nodes carry no wires', () => {
  const flows = [tab('t'), node('a', 't', [['b']], { d: true }), node('b', 't', [], { board: 'B' })];
  assert.strictEqual(computePlacement(flows).outbound.size, 0);
});

test('wire topics escape node ids the contract way', () => {
  assert.strictEqual(uriSafe('a1b2_c3'), 'a1b2_c3');
  assert.strictEqual(uriSafe('A.b-c'), '_41_2eb_2dc');
  assert.strictEqual(wireTopic('flw1', 'x.y', 2), 'ew.flow.flw1.wire.x_2ey.2');
});
