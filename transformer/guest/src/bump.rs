//! A bump allocator for one-call instances (wasm32 only): allocation moves a cursor forward,
//! growing memory only past its current end; freeing the newest block (and growing it in place)
//! is supported, anything else is never reused. A fresh instance per call bounds the waste.

use std::alloc::{GlobalAlloc, Layout};
use std::arch::wasm32;
use std::cell::Cell;
use std::ptr;

const PAGE: usize = 64 << 10;

#[global_allocator]
static ALLOCATOR: Bump = Bump {
    next: Cell::new(0),
    end: Cell::new(0),
};

struct Bump {
    /// The first free address (0 until the first allocation).
    next: Cell<usize>,
    /// The end of memory.
    end: Cell<usize>,
}

// SAFETY: wasm32-wasip1 modules are single-threaded (no shared memory, no threads).
unsafe impl Sync for Bump {}

unsafe extern "C" {
    /// Where the linker put the end of the stack and static data: the heap starts here.
    static __heap_base: u8;
}

// === impl Bump ===

impl Bump {
    /// Makes `[.., end)` addressable, growing memory if needed.
    fn reserve(&self, end: usize) -> bool {
        if self.next.get() == 0 {
            self.next.set(ptr::addr_of!(__heap_base) as usize);
            self.end.set(wasm32::memory_size(0).saturating_mul(PAGE));
        }
        let have = self.end.get();
        if end <= have {
            return true;
        }
        let pages = (end - have).div_ceil(PAGE);
        if wasm32::memory_grow(0, pages) == usize::MAX {
            return false;
        }
        self.end
            .set(have.saturating_add(pages.saturating_mul(PAGE)));
        true
    }
}

unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !self.reserve(0) {
            return ptr::null_mut();
        }
        let start = match self.next.get().checked_add(layout.align() - 1) {
            Some(end) => end & !(layout.align() - 1),
            None => return ptr::null_mut(),
        };
        match start.checked_add(layout.size()) {
            Some(end) if self.reserve(end) => {
                self.next.set(end);
                start as *mut u8
            }
            _ => ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ptr as usize + layout.size() == self.next.get() {
            self.next.set(ptr as usize);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let start = ptr as usize;
        // The newest block grows (or shrinks) in place: a Vec being filled does not copy.
        if start + layout.size() == self.next.get() {
            return match start.checked_add(new_size) {
                Some(end) if self.reserve(end) => {
                    self.next.set(end);
                    ptr
                }
                _ => ptr::null_mut(),
            };
        }
        if new_size <= layout.size() {
            return ptr;
        }
        // SAFETY: the caller's contract (a valid layout for the new size).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as above.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live and at least `layout.size()` long; they do not overlap.
            unsafe { ptr::copy_nonoverlapping(ptr, new, layout.size()) };
        }
        new
    }
}
