;; Matrix products of the spectral pass in WebAssembly SIMD (wasm-matrix-backend.ts drives them).
;;
;; Operands are binary32, sums binary64: every product of two binary32 values is exact in binary64, and
;; each element's sum runs over the shared dimension in ascending order, one rounded addition at a time,
;; exactly as the plain-JavaScript backend adds, so both give the same bits. WebAssembly SIMD has no fused
;; multiply-add, so no step can round differently; which thread runs a block changes nothing either.
;; The binary64 products of block Gram-Schmidt (multiply_blocks_f64) are the same loops on binary64.
;;
;; The memory is shared by the threads of a product (product-team.ts). It holds the matrix, the padded
;; right-hand panel, the result, the claim counter, and per thread a block of the matrix and of the sums.
(module
  (import "env" "memory" (memory 1 65536 shared))
  (export "memory" (memory 0))

  ;; op(A) @ B into `out` (m x n binary32, row-major), block of result rows by block, for as long as
  ;; the counter at $cursor hands out blocks (every thread of a product runs this with its own $tile
  ;; and $sums); returns how many blocks this thread ran. A is m x k row-major, or with $transposed the stored k x m matrix whose transpose is
  ;; meant. B is k x $width, its rows padded to a multiple of 8. A block is $blockRows rows (even) of
  ;; the result over $blockDepth steps of the shared dimension at a time. Row blocks of A are read in
  ;; place; for A^T each step's segment of a stored row is first copied into $tile, so that the kernel
  ;; reads a few pages instead of one page per step.
  (func (export "multiply_blocks")
    (param $a i32) (param $b i32) (param $out i32) (param $m i32) (param $k i32) (param $n i32) (param $width i32)
    (param $transposed i32) (param $blockRows i32) (param $blockDepth i32) (param $tile i32) (param $sums i32)
    (param $cursor i32) (result i32)
    (local $blocksRun i32) (local $rowStart i32) (local $rows i32) (local $evenRows i32) (local $depthStart i32) (local $depth i32)
    (local $step i32) (local $row i32) (local $column i32) (local $from i32) (local $to i32)
    (block $blocksDone (loop $blocks
      (local.set $rowStart (i32.mul (i32.atomic.rmw.add (local.get $cursor) (i32.const 1)) (local.get $blockRows)))
      (br_if $blocksDone (i32.ge_u (local.get $rowStart) (local.get $m)))
      (local.set $rows (i32.sub (local.get $m) (local.get $rowStart)))
      (if (i32.gt_u (local.get $rows) (local.get $blockRows)) (then (local.set $rows (local.get $blockRows))))
      (local.set $evenRows (i32.and (i32.add (local.get $rows) (i32.const 1)) (i32.const -2)))
      (memory.fill (local.get $sums) (i32.const 0) (i32.shl (i32.mul (local.get $evenRows) (local.get $width)) (i32.const 3)))
      (local.set $depthStart (i32.const 0))
      (block $depthDone (loop $depthBlocks
        (br_if $depthDone (i32.ge_u (local.get $depthStart) (local.get $k)))
        (local.set $depth (i32.sub (local.get $k) (local.get $depthStart)))
        (if (i32.gt_u (local.get $depth) (local.get $blockDepth)) (then (local.set $depth (local.get $blockDepth))))
        (if (local.get $transposed)
          (then
            (local.set $step (i32.const 0))
            (block $copied (loop $copy
              (br_if $copied (i32.ge_u (local.get $step) (local.get $depth)))
              (memory.copy
                (i32.add (local.get $tile) (i32.shl (i32.mul (local.get $step) (local.get $blockRows)) (i32.const 2)))
                (i32.add (local.get $a) (i32.shl (i32.add
                  (i32.mul (i32.add (local.get $depthStart) (local.get $step)) (local.get $m)) (local.get $rowStart)) (i32.const 2)))
                (i32.shl (local.get $rows) (i32.const 2)))
              (local.set $step (i32.add (local.get $step) (i32.const 1)))
              (br $copy)))
            (call $multiply_accumulate (local.get $tile) (i32.const 4) (i32.shl (local.get $blockRows) (i32.const 2))
              (i32.add (local.get $b) (i32.shl (i32.mul (local.get $depthStart) (local.get $width)) (i32.const 2)))
              (local.get $sums) (local.get $evenRows) (local.get $depth) (local.get $width)))
          (else
            ;; An odd last block reads one row past the matrix into the sums of a row nobody stores;
            ;; the driver leaves room for it.
            (call $multiply_accumulate
              (i32.add (local.get $a) (i32.shl (i32.add
                (i32.mul (local.get $rowStart) (local.get $k)) (local.get $depthStart)) (i32.const 2)))
              (i32.shl (local.get $k) (i32.const 2)) (i32.const 4)
              (i32.add (local.get $b) (i32.shl (i32.mul (local.get $depthStart) (local.get $width)) (i32.const 2)))
              (local.get $sums) (local.get $evenRows) (local.get $depth) (local.get $width))))
        (local.set $depthStart (i32.add (local.get $depthStart) (local.get $depth)))
        (br $depthBlocks)))
      ;; Round each sum once to binary32 (nearest, ties to even), as storing into a Float32Array does.
      (local.set $row (i32.const 0))
      (block $rowsStored (loop $storeRows
        (br_if $rowsStored (i32.ge_u (local.get $row) (local.get $rows)))
        (local.set $from (i32.add (local.get $sums) (i32.shl (i32.mul (local.get $row) (local.get $width)) (i32.const 3))))
        (local.set $to (i32.add (local.get $out)
          (i32.shl (i32.mul (i32.add (local.get $rowStart) (local.get $row)) (local.get $n)) (i32.const 2))))
        (local.set $column (i32.const 0))
        (block $columnsStored (loop $storeColumns
          (br_if $columnsStored (i32.ge_u (local.get $column) (local.get $n)))
          (f32.store (i32.add (local.get $to) (i32.shl (local.get $column) (i32.const 2)))
            (f32.demote_f64 (f64.load (i32.add (local.get $from) (i32.shl (local.get $column) (i32.const 3))))))
          (local.set $column (i32.add (local.get $column) (i32.const 1)))
          (br $storeColumns)))
        (local.set $row (i32.add (local.get $row) (i32.const 1)))
        (br $storeRows)))
      (local.set $blocksRun (i32.add (local.get $blocksRun) (i32.const 1)))
      (br $blocks)))
    (local.get $blocksRun))

  ;; C += A @ B for a block: A is `rows` x `depth` binary32 with element (i, p) at
  ;; a + i * $aRowStride + p * $aDepthStride (bytes), so a block can be read in either orientation;
  ;; B is `depth` x `width` binary32 and C `rows` x `width` binary64, both row-major. `rows` is even and
  ;; `width` a multiple of 8: each step of the inner loop adds one column of A (two rows) times one row of
  ;; B (eight columns) into sixteen sums held in eight registers.
  (func $multiply_accumulate
    (param $a i32) (param $aRowStride i32) (param $aDepthStride i32) (param $b i32) (param $c i32)
    (param $rows i32) (param $depth i32) (param $width i32)
    (local $i i32) (local $j i32) (local $p i32)
    (local $a0 i32) (local $a1 i32) (local $bAt i32) (local $c0 i32) (local $c1 i32)
    (local $bStride i32) (local $cStride i32)
    (local $s0 v128) (local $s1 v128) (local $v v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128)
    (local $x00 v128) (local $x01 v128) (local $x02 v128) (local $x03 v128)
    (local $x10 v128) (local $x11 v128) (local $x12 v128) (local $x13 v128)
    (local.set $bStride (i32.shl (local.get $width) (i32.const 2)))
    (local.set $cStride (i32.shl (local.get $width) (i32.const 3)))
    (block $rowsDone (loop $rowPairs
      (br_if $rowsDone (i32.ge_u (local.get $i) (local.get $rows)))
      (local.set $j (i32.const 0))
      (block $columnsDone (loop $columnGroups
        (br_if $columnsDone (i32.ge_u (local.get $j) (local.get $width)))
        (local.set $c0 (i32.add (local.get $c)
          (i32.add (i32.mul (local.get $i) (local.get $cStride)) (i32.shl (local.get $j) (i32.const 3)))))
        (local.set $c1 (i32.add (local.get $c0) (local.get $cStride)))
        (local.set $x00 (v128.load offset=0 (local.get $c0)))
        (local.set $x01 (v128.load offset=16 (local.get $c0)))
        (local.set $x02 (v128.load offset=32 (local.get $c0)))
        (local.set $x03 (v128.load offset=48 (local.get $c0)))
        (local.set $x10 (v128.load offset=0 (local.get $c1)))
        (local.set $x11 (v128.load offset=16 (local.get $c1)))
        (local.set $x12 (v128.load offset=32 (local.get $c1)))
        (local.set $x13 (v128.load offset=48 (local.get $c1)))
        (local.set $a0 (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $aRowStride))))
        (local.set $a1 (i32.add (local.get $a0) (local.get $aRowStride)))
        (local.set $bAt (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $p (local.get $depth))
        (block $depthDone (loop $depthSteps
          (br_if $depthDone (i32.eqz (local.get $p)))
          (local.set $s0 (f64x2.splat (f64.promote_f32 (f32.load (local.get $a0)))))
          (local.set $s1 (f64x2.splat (f64.promote_f32 (f32.load (local.get $a1)))))
          ;; Columns j..j+3 and j+4..j+7 of B's row, each as two binary64 pairs (the high pair moved down first).
          (local.set $v (v128.load offset=0 (local.get $bAt)))
          (local.set $b0 (f64x2.promote_low_f32x4 (local.get $v)))
          (local.set $b1 (f64x2.promote_low_f32x4
            (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))))
          (local.set $v (v128.load offset=16 (local.get $bAt)))
          (local.set $b2 (f64x2.promote_low_f32x4 (local.get $v)))
          (local.set $b3 (f64x2.promote_low_f32x4
            (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))))
          (local.set $x00 (f64x2.add (local.get $x00) (f64x2.mul (local.get $s0) (local.get $b0))))
          (local.set $x01 (f64x2.add (local.get $x01) (f64x2.mul (local.get $s0) (local.get $b1))))
          (local.set $x02 (f64x2.add (local.get $x02) (f64x2.mul (local.get $s0) (local.get $b2))))
          (local.set $x03 (f64x2.add (local.get $x03) (f64x2.mul (local.get $s0) (local.get $b3))))
          (local.set $x10 (f64x2.add (local.get $x10) (f64x2.mul (local.get $s1) (local.get $b0))))
          (local.set $x11 (f64x2.add (local.get $x11) (f64x2.mul (local.get $s1) (local.get $b1))))
          (local.set $x12 (f64x2.add (local.get $x12) (f64x2.mul (local.get $s1) (local.get $b2))))
          (local.set $x13 (f64x2.add (local.get $x13) (f64x2.mul (local.get $s1) (local.get $b3))))
          (local.set $a0 (i32.add (local.get $a0) (local.get $aDepthStride)))
          (local.set $a1 (i32.add (local.get $a1) (local.get $aDepthStride)))
          (local.set $bAt (i32.add (local.get $bAt) (local.get $bStride)))
          (local.set $p (i32.sub (local.get $p) (i32.const 1)))
          (br $depthSteps)))
        (v128.store offset=0 (local.get $c0) (local.get $x00))
        (v128.store offset=16 (local.get $c0) (local.get $x01))
        (v128.store offset=32 (local.get $c0) (local.get $x02))
        (v128.store offset=48 (local.get $c0) (local.get $x03))
        (v128.store offset=0 (local.get $c1) (local.get $x10))
        (v128.store offset=16 (local.get $c1) (local.get $x11))
        (v128.store offset=32 (local.get $c1) (local.get $x12))
        (v128.store offset=48 (local.get $c1) (local.get $x13))
        (local.set $j (i32.add (local.get $j) (i32.const 8)))
        (br $columnGroups)))
      (local.set $i (i32.add (local.get $i) (i32.const 2)))
      (br $rowPairs))))
  ;; The binary64 products of block Gram-Schmidt: for each block of result rows claimed from the
  ;; counter at $cursor, out[i][j] (j < n) becomes the sum over the k steps, $blockDepth at a time, of
  ;; A[i][p] * B[p][j], added in ascending p to zero, or with $accumulate to out[i][j] itself (A's
  ;; element (i, p) at a + i * $aRowStride + p * $aDepthStride, read in place; B k x $width binary64).
  ;; Each sum is added one term at a time as a plain loop adds, so the bits are the loop's. Returns
  ;; the blocks this thread ran.
  (func (export "multiply_blocks_f64")
    (param $a i32) (param $aRowStride i32) (param $aDepthStride i32) (param $b i32) (param $out i32)
    (param $accumulate i32) (param $m i32) (param $k i32) (param $n i32) (param $width i32) (param $blockRows i32)
    (param $blockDepth i32) (param $sums i32) (param $cursor i32) (result i32)
    (local $blocksRun i32) (local $rowStart i32) (local $rows i32) (local $evenRows i32)
    (local $depthStart i32) (local $depth i32) (local $row i32)
    (block $blocksDone (loop $blocks
      (local.set $rowStart (i32.mul (i32.atomic.rmw.add (local.get $cursor) (i32.const 1)) (local.get $blockRows)))
      (br_if $blocksDone (i32.ge_u (local.get $rowStart) (local.get $m)))
      (local.set $rows (i32.sub (local.get $m) (local.get $rowStart)))
      (if (i32.gt_u (local.get $rows) (local.get $blockRows)) (then (local.set $rows (local.get $blockRows))))
      (local.set $evenRows (i32.and (i32.add (local.get $rows) (i32.const 1)) (i32.const -2)))
      (memory.fill (local.get $sums) (i32.const 0) (i32.shl (i32.mul (local.get $evenRows) (local.get $width)) (i32.const 3)))
      (if (local.get $accumulate)
        (then
          (local.set $row (i32.const 0))
          (block $rowsLoaded (loop $loadRows
            (br_if $rowsLoaded (i32.ge_u (local.get $row) (local.get $rows)))
            (memory.copy
              (i32.add (local.get $sums) (i32.shl (i32.mul (local.get $row) (local.get $width)) (i32.const 3)))
              (i32.add (local.get $out) (i32.shl (i32.mul (i32.add (local.get $rowStart) (local.get $row)) (local.get $n)) (i32.const 3)))
              (i32.shl (local.get $n) (i32.const 3)))
            (local.set $row (i32.add (local.get $row) (i32.const 1)))
            (br $loadRows)))))
      ;; An odd last block reads one row (or column) of A past its end into sums nobody stores.
      (local.set $depthStart (i32.const 0))
      (block $depthDone (loop $depthBlocks
        (br_if $depthDone (i32.ge_u (local.get $depthStart) (local.get $k)))
        (local.set $depth (i32.sub (local.get $k) (local.get $depthStart)))
        (if (i32.gt_u (local.get $depth) (local.get $blockDepth)) (then (local.set $depth (local.get $blockDepth))))
        (call $multiply_accumulate_f64
          (i32.add (local.get $a) (i32.add (i32.mul (local.get $rowStart) (local.get $aRowStride))
            (i32.mul (local.get $depthStart) (local.get $aDepthStride))))
          (local.get $aRowStride) (local.get $aDepthStride)
          (i32.add (local.get $b) (i32.shl (i32.mul (local.get $depthStart) (local.get $width)) (i32.const 3)))
          (local.get $sums) (local.get $evenRows) (local.get $depth) (local.get $width))
        (local.set $depthStart (i32.add (local.get $depthStart) (local.get $depth)))
        (br $depthBlocks)))
      (local.set $row (i32.const 0))
      (block $rowsStored (loop $storeRows
        (br_if $rowsStored (i32.ge_u (local.get $row) (local.get $rows)))
        (memory.copy
          (i32.add (local.get $out) (i32.shl (i32.mul (i32.add (local.get $rowStart) (local.get $row)) (local.get $n)) (i32.const 3)))
          (i32.add (local.get $sums) (i32.shl (i32.mul (local.get $row) (local.get $width)) (i32.const 3)))
          (i32.shl (local.get $n) (i32.const 3)))
        (local.set $row (i32.add (local.get $row) (i32.const 1)))
        (br $storeRows)))
      (local.set $blocksRun (i32.add (local.get $blocksRun) (i32.const 1)))
      (br $blocks)))
    (local.get $blocksRun))

  ;; $multiply_accumulate with binary64 operands (B's rows are `width` binary64).
  (func $multiply_accumulate_f64
    (param $a i32) (param $aRowStride i32) (param $aDepthStride i32) (param $b i32) (param $c i32)
    (param $rows i32) (param $depth i32) (param $width i32)
    (local $i i32) (local $j i32) (local $p i32)
    (local $a0 i32) (local $a1 i32) (local $bAt i32) (local $c0 i32) (local $c1 i32)
    (local $bStride i32) (local $cStride i32)
    (local $s0 v128) (local $s1 v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128)
    (local $x00 v128) (local $x01 v128) (local $x02 v128) (local $x03 v128)
    (local $x10 v128) (local $x11 v128) (local $x12 v128) (local $x13 v128)
    (local.set $bStride (i32.shl (local.get $width) (i32.const 3)))
    (local.set $cStride (i32.shl (local.get $width) (i32.const 3)))
    (block $rowsDone (loop $rowPairs
      (br_if $rowsDone (i32.ge_u (local.get $i) (local.get $rows)))
      (local.set $j (i32.const 0))
      (block $columnsDone (loop $columnGroups
        (br_if $columnsDone (i32.ge_u (local.get $j) (local.get $width)))
        (local.set $c0 (i32.add (local.get $c)
          (i32.add (i32.mul (local.get $i) (local.get $cStride)) (i32.shl (local.get $j) (i32.const 3)))))
        (local.set $c1 (i32.add (local.get $c0) (local.get $cStride)))
        (local.set $x00 (v128.load offset=0 (local.get $c0)))
        (local.set $x01 (v128.load offset=16 (local.get $c0)))
        (local.set $x02 (v128.load offset=32 (local.get $c0)))
        (local.set $x03 (v128.load offset=48 (local.get $c0)))
        (local.set $x10 (v128.load offset=0 (local.get $c1)))
        (local.set $x11 (v128.load offset=16 (local.get $c1)))
        (local.set $x12 (v128.load offset=32 (local.get $c1)))
        (local.set $x13 (v128.load offset=48 (local.get $c1)))
        (local.set $a0 (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $aRowStride))))
        (local.set $a1 (i32.add (local.get $a0) (local.get $aRowStride)))
        (local.set $bAt (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 3))))
        (local.set $p (local.get $depth))
        (block $depthDone (loop $depthSteps
          (br_if $depthDone (i32.eqz (local.get $p)))
          (local.set $s0 (f64x2.splat (f64.load (local.get $a0))))
          (local.set $s1 (f64x2.splat (f64.load (local.get $a1))))
          (local.set $b0 (v128.load offset=0 (local.get $bAt)))
          (local.set $b1 (v128.load offset=16 (local.get $bAt)))
          (local.set $b2 (v128.load offset=32 (local.get $bAt)))
          (local.set $b3 (v128.load offset=48 (local.get $bAt)))
          (local.set $x00 (f64x2.add (local.get $x00) (f64x2.mul (local.get $s0) (local.get $b0))))
          (local.set $x01 (f64x2.add (local.get $x01) (f64x2.mul (local.get $s0) (local.get $b1))))
          (local.set $x02 (f64x2.add (local.get $x02) (f64x2.mul (local.get $s0) (local.get $b2))))
          (local.set $x03 (f64x2.add (local.get $x03) (f64x2.mul (local.get $s0) (local.get $b3))))
          (local.set $x10 (f64x2.add (local.get $x10) (f64x2.mul (local.get $s1) (local.get $b0))))
          (local.set $x11 (f64x2.add (local.get $x11) (f64x2.mul (local.get $s1) (local.get $b1))))
          (local.set $x12 (f64x2.add (local.get $x12) (f64x2.mul (local.get $s1) (local.get $b2))))
          (local.set $x13 (f64x2.add (local.get $x13) (f64x2.mul (local.get $s1) (local.get $b3))))
          (local.set $a0 (i32.add (local.get $a0) (local.get $aDepthStride)))
          (local.set $a1 (i32.add (local.get $a1) (local.get $aDepthStride)))
          (local.set $bAt (i32.add (local.get $bAt) (local.get $bStride)))
          (local.set $p (i32.sub (local.get $p) (i32.const 1)))
          (br $depthSteps)))
        (v128.store offset=0 (local.get $c0) (local.get $x00))
        (v128.store offset=16 (local.get $c0) (local.get $x01))
        (v128.store offset=32 (local.get $c0) (local.get $x02))
        (v128.store offset=48 (local.get $c0) (local.get $x03))
        (v128.store offset=0 (local.get $c1) (local.get $x10))
        (v128.store offset=16 (local.get $c1) (local.get $x11))
        (v128.store offset=32 (local.get $c1) (local.get $x12))
        (v128.store offset=48 (local.get $c1) (local.get $x13))
        (local.set $j (i32.add (local.get $j) (i32.const 8)))
        (br $columnGroups)))
      (local.set $i (i32.add (local.get $i) (i32.const 2)))
      (br $rowPairs)))))
