import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, initBackend } from '@difflab/core-tensor';
import { type UNet, type UNetPruningSpec, createUNet, linearSchedule, pruneParams, applyPruning, sdStyleUNetConfig, stagePairs } from '@difflab/models';
import { LossInputError, distillationTerms, epsilonMse, unetDistillationLoss } from '../src/index.js';

await initBackend({ backend: 'cpu' });

const t4 = (values: number[]) => tf.tensor4d(values, [1, 1, values.length, 1]);

describe('distillationTerms', () => {
  it('matches a hand computation of BK-SDM’s three terms and their weighting', () => {
    const noise = t4([1, 0]);
    const studentOut = t4([2, 2]);
    const teacherOut = t4([0, 1]);
    const studentFeatures = { a: t4([1, 1, 1, 1]), b: t4([3]) };
    const teacherFeatures = { A: t4([0, 1, 2, 1]), B: t4([1]) };
    const pairs = [{ student: 'a', teacher: 'A' }, { student: 'b', teacher: 'B' }];
    const terms = distillationTerms({ noise, studentOut, teacherOut, studentFeatures, teacherFeatures, pairs }, { task: 1, output: 0.5, feature: 2 });
    // task: ((2−1)² + (2−0)²)/2 = 2.5; output: ((2−0)² + (2−1)²)/2 = 2.5;
    // features: a: (1 + 0 + 1 + 0)/4 = 0.5, b: (3−1)² = 4 → 4.5; total = 2.5 + 0.5·2.5 + 2·4.5 = 12.75.
    expect(terms.task.dataSync()[0]).toBeCloseTo(2.5, 6);
    expect(terms.output.dataSync()[0]).toBeCloseTo(2.5, 6);
    expect(terms.perStage.a!.dataSync()[0]).toBeCloseTo(0.5, 6);
    expect(terms.perStage.b!.dataSync()[0]).toBeCloseTo(4, 6);
    expect(terms.feature.dataSync()[0]).toBeCloseTo(4.5, 6);
    expect(terms.total.dataSync()[0]).toBeCloseTo(12.75, 6);
    // Default weights are all 1 (the official script's defaults).
    expect(distillationTerms({ noise, studentOut, teacherOut, studentFeatures, teacherFeatures, pairs }).total.dataSync()[0]).toBeCloseTo(9.5, 6);
  });

  it('reduces to the task loss when the distillation weights are 0', () => {
    const rng = new Rng(1);
    const noise = rng.normalTensor([2, 2, 2, 1]) as tf.Tensor4D;
    const studentOut = rng.normalTensor([2, 2, 2, 1]) as tf.Tensor4D;
    const teacherOut = rng.normalTensor([2, 2, 2, 1]) as tf.Tensor4D;
    const f = { s: rng.normalTensor([2, 1, 1, 3]) };
    const terms = distillationTerms(
      { noise, studentOut, teacherOut, studentFeatures: f, teacherFeatures: { t: rng.normalTensor([2, 1, 1, 3]) }, pairs: [{ student: 's', teacher: 't' }] },
      { output: 0, feature: 0 },
    );
    expect(terms.total.dataSync()[0]).toBe(epsilonMse(studentOut, noise).dataSync()[0]);
    expect(terms.feature.dataSync()[0]).toBeGreaterThan(0);
  });

  it('rejects mismatched shapes, missing stages and bad weights', () => {
    const x = t4([1, 2]);
    const base = { noise: x, studentOut: x, teacherOut: x, studentFeatures: { s: x }, teacherFeatures: { t: t4([1]) } };
    expect(() => distillationTerms({ ...base, pairs: [{ student: 's', teacher: 't' }] })).toThrow(/feature distillation s ← t: .*shapes differ/);
    expect(() => distillationTerms({ ...base, pairs: [{ student: 'x', teacher: 't' }] })).toThrow(/student features lack stage 'x'/);
    expect(() => distillationTerms({ ...base, teacherOut: t4([1]), pairs: [] })).toThrow(LossInputError);
    expect(() => distillationTerms({ ...base, pairs: [] }, { output: -1 })).toThrow(/'output' must be a finite number ≥ 0/);
  });
});

describe('unetDistillationLoss', () => {
  const teacherConfig = sdStyleUNetConfig({
    sampleSize: 4, inChannels: 1, outChannels: 1, channels: [4, 8], layersPerLevel: 1, attention: [false, true],
    mid: true, numHeads: 2, groups: 2, conditioning: { kind: 'class', numClasses: 3, contextDim: 4, classDropoutProb: 0 },
  });
  const spec: UNetPruningSpec = { removeMid: true, remove: [] };

  function randomized(seed: number): UNet {
    const unet = createUNet(teacherConfig, new Rng(seed));
    const rng = new Rng(seed + 1);
    for (const v of Object.values(unet.params)) v.assign(tf.mul(rng.normalTensor(v.shape), 0.3));
    return unet;
  }

  it('gives the student gradients and the frozen teacher none, even when differentiating all variables', () => {
    const teacher = randomized(1);
    const student = createUNet(applyPruning(teacherConfig, spec), pruneParams(teacher.params, teacherConfig, spec));
    const pairs = stagePairs(teacherConfig, spec);
    expect(pairs.length).toBe(4);
    const x0 = new Rng(3).normalTensor([2, 4, 4, 1]) as tf.Tensor4D;
    const y = tf.tensor1d([0, 2], 'int32');
    const teacherVars = new Set(Object.values(teacher.params).map((v) => v.name));
    const studentVars = new Set(Object.values(student.params).map((v) => v.name));
    // Perturb the student so every term is non-zero.
    for (const v of Object.values(student.params)) v.assign(tf.add(v, tf.mul(new Rng(4).normalTensor(v.shape), 0.05)));
    const all = [...Object.values(teacher.params), ...Object.values(student.params)];
    const { value, grads } = tf.variableGrads(
      () => unetDistillationLoss(student, teacher, x0, y, new Rng(5), linearSchedule(), { pairs }).total,
      all,
    );
    expect(value.dataSync()[0]).toBeGreaterThan(0);
    let studentNonZero = 0;
    for (const [name, g] of Object.entries(grads)) {
      const maxAbs = tf.max(tf.abs(g)).dataSync()[0]!;
      if (teacherVars.has(name)) expect(maxAbs).toBe(0);
      else if (studentVars.has(name) && maxAbs > 0) studentNonZero++;
    }
    expect(studentNonZero).toBeGreaterThan(studentVars.size / 2);
    teacher.dispose();
    student.dispose();
  });

  it('a student identical to its teacher has zero distillation terms; the total is then the task loss', () => {
    const teacher = randomized(6);
    const student = createUNet(teacherConfig, Object.fromEntries(Object.entries(teacher.params)));
    const pairs = stagePairs(teacherConfig, { remove: [] }, { includeMid: true });
    const x0 = new Rng(7).normalTensor([2, 4, 4, 1]) as tf.Tensor4D;
    const terms = unetDistillationLoss(student, teacher, x0, tf.tensor1d([1, 3], 'int32'), new Rng(8), linearSchedule(), { pairs });
    expect(terms.output.dataSync()[0]).toBe(0);
    expect(terms.feature.dataSync()[0]).toBe(0);
    expect(Object.keys(terms.perStage).sort()).toEqual(['down_blocks.0', 'down_blocks.1', 'mid_block', 'up_blocks.0', 'up_blocks.1']);
    expect(terms.total.dataSync()[0]).toBe(terms.task.dataSync()[0]);
    expect(terms.task.dataSync()[0]).toBeGreaterThan(0);
    teacher.dispose();
    student.dispose();
  });
});
