import { describe, expect, it } from 'vitest';
import { CONFIG_REFRESH_ANNOTATION, podsToRefresh } from '../../../src/operator/controller/volume-refresh.ts';

const pod = (name: string, annotation?: string, deleting = false) => ({
  metadata: {
    name,
    ...(annotation === undefined ? {} : { annotations: { [CONFIG_REFRESH_ANNOTATION]: annotation } }),
    ...(deleting ? { deletionTimestamp: new Date('2026-12-07T00:00:00Z') } : {}),
  },
});

describe('podsToRefresh', () => {
  it.each([
    { case: 'a pod never annotated', pods: [pod('a')], want: ['a'] },
    { case: 'a pod annotated with an older version', pods: [pod('a', 'v1')], want: ['a'] },
    { case: 'a pod already at this version', pods: [pod('a', 'v2')], want: [] },
    { case: 'a pod being deleted', pods: [pod('a', 'v1', true)], want: [] },
    { case: 'a mix', pods: [pod('a', 'v2'), pod('b'), pod('c', 'v1', true), pod('d', 'v1')], want: ['b', 'd'] },
  ])('touches $case only when needed', ({ pods, want }) => {
    expect(podsToRefresh(pods, 'v2').map((p) => p.metadata?.name)).toEqual(want);
  });
});
