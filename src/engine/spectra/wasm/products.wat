;; Matrix products of the spectral pass in WebAssembly SIMD (wasm-matrix-backend.ts drives them).
;;
;; Operands are binary32, sums binary64: every product of two binary32 values is exact in binary64, and
;; each element's sum runs over the shared dimension in ascending order, one rounded addition at a time,
;; exactly as the plain-JavaScript backend adds, so both give the same bits. WebAssembly SIMD has no fused
;; multiply-add, so no step can round differently.
(module
  (memory (export "memory") 1 65536)

  ;; C += A @ B for a block: A is `rows` x `depth` binary32 with element (i, p) at
  ;; a + i * $aRowStride + p * $aDepthStride (bytes), so a block can be read in either orientation;
  ;; B is `depth` x `width` binary32 and C `rows` x `width` binary64, both row-major. `rows` is even and
  ;; `width` a multiple of 8: each step of the inner loop adds one column of A (two rows) times one row of
  ;; B (eight columns) into sixteen sums held in eight registers.
  (func (export "multiply_accumulate")
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
      (br $rowPairs)))))
