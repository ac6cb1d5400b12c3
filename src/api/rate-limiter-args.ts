// The arguments of Vm.setRateLimiter, checked as every API argument is: a TypeError or RangeError naming the
// argument down to the field (`limiter.bandwidth.size`), with Node's codes.
import {
  BUCKET_SIZE_MAX, REFILL_TIME_MAX_MS, type RateLimiterConfig, type TokenBucketConfig,
} from '../devices/rate-limiter';
import type { NetDirection } from '../devices/net/device';
import type { MachineConfig } from '../vmm/config';
import { argTypeError, checkInteger, checkOptions, VmError } from './errors';

export const DIRECTIONS = ['rx', 'tx'] as const satisfies readonly NetDirection[];

function checkBucket(name: string, value: unknown): TokenBucketConfig | undefined {
  if (value === undefined) return undefined;
  if (value === null) throw argTypeError(name, 'an object { size, oneTimeBurst?, refillTime }', value);
  const o = checkOptions(name, value, ['size', 'oneTimeBurst', 'refillTime']);
  const bucket: TokenBucketConfig = {
    size: checkInteger(`${name}.size`, o.size, 1, BUCKET_SIZE_MAX),
    refillTime: checkInteger(`${name}.refillTime`, o.refillTime, 1, REFILL_TIME_MAX_MS),
  };
  if (o.oneTimeBurst !== undefined) {
    bucket.oneTimeBurst = checkInteger(`${name}.oneTimeBurst`, o.oneTimeBurst, 0, BUCKET_SIZE_MAX);
  }
  return bucket;
}

/** A limiter argument, copied; null, or one without a bucket, is undefined: no limits. */
export function checkRateLimiter(name: string, value: unknown): RateLimiterConfig | undefined {
  if (value === null) return undefined;
  if (value === undefined) throw argTypeError(name, 'an object { bandwidth?, ops? } or null', value);
  const o = checkOptions(name, value, ['bandwidth', 'ops']);
  const limiter: RateLimiterConfig = {};
  const bandwidth = checkBucket(`${name}.bandwidth`, o.bandwidth);
  const ops = checkBucket(`${name}.ops`, o.ops);
  if (bandwidth) limiter.bandwidth = bandwidth;
  if (ops) limiter.ops = ops;
  return bandwidth || ops ? limiter : undefined;
}

/**
 * Vm.setRateLimiter's arguments for `device` of `config`, checked: the limiter (undefined: none) and the direction
 * (undefined: both of a net device's, or the disk's one). VmError ERR_VM_NO_DEVICE for a device without limiters.
 */
export function rateLimiterArgs(config: MachineConfig, device: number, limiter: unknown, direction: unknown):
  { limiter: RateLimiterConfig | undefined; direction: NetDirection | undefined } {
  const checked = checkRateLimiter('limiter', limiter);
  if (direction !== undefined && !(DIRECTIONS as readonly unknown[]).includes(direction)) {
    throw Object.assign(argTypeError('direction', `one of ${DIRECTIONS.join(', ')} or left out`, direction),
      { code: 'ERR_INVALID_ARG_VALUE' });
  }
  const type = config.devices[device]?.type ?? 'unknown';
  if (type !== 'blk' && type !== 'net') {
    throw new VmError('ERR_VM_NO_DEVICE', `devices[${device}] is a ${type} device, which has no rate limiter (blk and net have)`);
  }
  if (type === 'blk' && direction !== undefined) {
    throw Object.assign(new TypeError(`The "direction" argument is for a net device; devices[${device}] is a disk, ` +
      'with one limiter'), { code: 'ERR_INVALID_ARG_VALUE' });
  }
  return { limiter: checked, direction: direction as NetDirection | undefined };
}
