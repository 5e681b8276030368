//! Reuse of large tensor buffers. A freed buffer of more than a few pages
//! goes back to the operating system, and the next op pays a page fault per
//! 4 KiB to get it back, or, with worker threads, interrupts every core to
//! unmap it. A training step allocates the same sizes every time, so a
//! tensor's storage hands its buffer here when dropped, and ops take their
//! outputs from here.

use crate::element::Element;

/// Smaller buffers are left to the allocator, which keeps them cheaply.
const MIN_BYTES: usize = 64 << 10;
/// At most this many bytes are kept, per thread and element type: room for
/// every activation of a medium model's step (at 64 MiB, the transformer
/// workload dropped buffers at the end of each backward pass and spent 7% of
/// its step clearing pages it faulted back in).
const MAX_BYTES: usize = 256 << 20;

/// The free buffers of one thread and element type. (Public only to the
/// sealed element trait that names each type's pool.)
#[derive(Default)]
pub struct Free<E> {
    buffers: Vec<Vec<E>>,
    bytes: usize,
}

/// `n` zeros, in a recycled buffer where one fits.
pub(crate) fn zeroed<E: Element>(n: usize) -> Vec<E> {
    filled(n, E::zero())
}

/// `n` copies of `v`, in a recycled buffer where one fits.
pub(crate) fn filled<E: Element>(n: usize, v: E) -> Vec<E> {
    match recycled(n) {
        Some(mut buffer) => {
            buffer.fill(v);
            buffer
        }
        None => vec![v; n],
    }
}

/// `n` values for the caller to overwrite, every one: a recycled buffer's
/// old values where one fits, else zeros.
pub(crate) fn reused<E: Element>(n: usize) -> Vec<E> {
    recycled(n).unwrap_or_else(|| vec![E::zero(); n])
}

/// A copy of `values`, in a recycled buffer where one fits.
pub(crate) fn copied<E: Element>(values: &[E]) -> Vec<E> {
    match recycled(values.len()) {
        Some(mut buffer) => {
            buffer.copy_from_slice(values);
            buffer
        }
        None => values.to_vec(),
    }
}

/// The smallest kept buffer of at least `n` values but not twice as many,
/// cut to `n`.
fn recycled<E: Element>(n: usize) -> Option<Vec<E>> {
    if n * size_of::<E>() < MIN_BYTES {
        return None;
    }
    let found = E::free().try_with(|free| {
        let mut free = free.borrow_mut();
        let fits = |b: &Vec<E>| b.len() >= n && b.len() <= 2 * n;
        let best =
            (0..free.buffers.len()).filter(|&i| fits(&free.buffers[i])).min_by_key(|&i| free.buffers[i].len())?;
        let mut buffer = free.buffers.swap_remove(best);
        free.bytes -= buffer.capacity() * size_of::<E>();
        buffer.truncate(n);
        Some(buffer)
    });
    found.ok().flatten()
}

/// Keeps `buffer` for reuse if it is large, dropping the oldest buffers kept
/// to stay under the pool's size.
pub(crate) fn recycle<E: Element>(buffer: Vec<E>) {
    let bytes = buffer.capacity() * size_of::<E>();
    if !(MIN_BYTES..=MAX_BYTES).contains(&bytes) {
        return;
    }
    // At thread exit the pool may be gone: the buffer is then just freed.
    let _ = E::free().try_with(|free| {
        let mut free = free.borrow_mut();
        while free.bytes + bytes > MAX_BYTES {
            let oldest = free.buffers.remove(0);
            free.bytes -= oldest.capacity() * size_of::<E>();
        }
        free.bytes += bytes;
        free.buffers.push(buffer);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::element::sealed::Sealed;

    #[test]
    fn large_buffers_are_reused_when_they_fit() {
        let big = zeroed::<f32>(1 << 16);
        let ptr = big.as_ptr();
        recycle(big);
        let again = zeroed::<f32>((1 << 16) - 5);
        assert_eq!(again.as_ptr(), ptr);
        assert!(again.iter().all(|&v| v == 0.0));
        // Too large for the request: not handed out.
        recycle(again);
        let quarter = reused::<f32>(1 << 14);
        assert_ne!(quarter.as_ptr(), ptr);
        let half = reused::<f32>(1 << 15);
        assert_eq!(half.as_ptr(), ptr);
        recycle(half);
        let threes = filled::<f32>(1 << 15, 3.0);
        assert_eq!(threes.as_ptr(), ptr);
        assert!(threes.iter().all(|&v| v == 3.0));
    }

    #[test]
    fn the_pool_stays_under_its_size() {
        for _ in 0..100 {
            recycle(Vec::<f64>::with_capacity(1 << 20));
        }
        let kept = f64::free().with(|free| free.borrow().bytes);
        assert!(kept <= MAX_BYTES, "{kept} bytes kept");
        assert_eq!(kept, f64::free().with(|f| f.borrow().buffers.iter().map(|b| b.capacity() * 8).sum::<usize>()));
    }
}
