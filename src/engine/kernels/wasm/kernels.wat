;; Elementwise kernels of Checkpoint Surgeon in WebAssembly SIMD.
;;
;; Helpers marked `;; @inline` are written out in their callers by scripts/wat-inline.mjs before compiling
;; (V8 in Node 20 does not inline WebAssembly calls, and a call spills every live vector register).
;;
;; Every kernel takes byte addresses in this module's memory and an element count that is a multiple of 8;
;; the TypeScript driver (wasm-kernels.ts) runs chunk tails through padded scratch space. Arithmetic is
;; binary32 as in PyTorch's `(a.float() - b.float()).to(dtype)`; narrowing rounds to nearest, ties to even.
;;
;; Memory layout of each thread's region (must match wasm-layout.ts); offsets from `$region`:
;;   0       statistics of the current call: f64 sum, sum of squares, base sum of squares,
;;           other sum of squares, dot (offsets 0..39); f32 min (40), max (44); i32 unchanged (48),
;;           finite (52), touched keys (56). `compare` reuses f64 max abs error (0), i32 identical (48),
;;           i32 non-finite mismatches (52), i32 signed-zero-only differences (56).
;;   128     binary64 partial sums of the statistics kernels (80 bytes)
;;   208     f32 lane minima (208) and maxima (224) of $bf16_block_statistics_masked
;;   1024    zero-padded tail slots
;;   65536   histogram: 65536 u32 counters keyed by the top 16 bits of the f32 delta
;;   327680  touched keys: `collect_touched` lists here the keys whose counter is not zero, so the driver
;;           reads and clears only those. The statistics kernels count without a branch per element (a
;;           first-touch test there cost more than one SIMD scan of the counters per call).
;;   589824  scratch blocks for mixed-dtype kernels (3 x 32 KiB); the fused bfloat16 statistics kernel keeps
;;           copies of a block's operands here when it writes in place.
;;   720896  second histogram: half of each group's elements count here, and `collect_touched` adds it into
;;           the first and clears it. Deltas repeat (half of a bfloat16 residual is often zero), and counting
;;           all eight of a group into one counter chains every increment behind the store before it; two
;;           copies halve that chain (the bfloat16 statistics kernel ran 1.35 ns an element with one, 1.02
;;           with two and with four). The region ends at 1 MiB, the heap follows the last region
;;
;; bfloat16 lanes are processed as two interleaved halves: `v << 16` holds elements 0, 2, 4, 6 as binary32
;; and `v & 0xffff0000` holds elements 1, 3, 5, 7, which costs one instruction per half to widen and
;; one to pack. Rounding to bfloat16 is `(x + 0x7fff + ((x >> 16) & 1)) >> 16`; where every input was a
;; widened bfloat16, a NaN the arithmetic returns has zero low bits, so the add cannot carry into it and
;; no NaN select is needed. Every other narrowing selects NaN explicitly.
(module
  ;; One memory shared by the kernel threads (kernel-team.ts); each thread's instance keeps its statistics, histogram
  ;; and scratch in its own 1 MiB region, at `$region`.
  (import "env" "memory" (memory 16 65536 shared))
  (global $region (import "env" "region") i32)
  (export "memory" (memory 0))

  ;; Adds the lane accumulators of one call into the statistics block.
  (func $store_statistics
    (param $unchanged v128) (param $finite v128) (param $min v128) (param $max v128)
    (param $sumL v128) (param $sumH v128) (param $sqL v128) (param $sqH v128) (param $aaL v128) (param $aaH v128)
    (param $bbL v128) (param $bbH v128) (param $abL v128) (param $abH v128) (param $touched i32)
    (local $s v128)
    (local.set $s (f64x2.add (local.get $sumL) (local.get $sumH)))
    (f64.store offset=0 (global.get $region) (f64.add (f64.load offset=0 (global.get $region))
      (f64.add (f64x2.extract_lane 0 (local.get $s)) (f64x2.extract_lane 1 (local.get $s)))))
    (local.set $s (f64x2.add (local.get $sqL) (local.get $sqH)))
    (f64.store offset=8 (global.get $region) (f64.add (f64.load offset=8 (global.get $region))
      (f64.add (f64x2.extract_lane 0 (local.get $s)) (f64x2.extract_lane 1 (local.get $s)))))
    (local.set $s (f64x2.add (local.get $aaL) (local.get $aaH)))
    (f64.store offset=16 (global.get $region) (f64.add (f64.load offset=16 (global.get $region))
      (f64.add (f64x2.extract_lane 0 (local.get $s)) (f64x2.extract_lane 1 (local.get $s)))))
    (local.set $s (f64x2.add (local.get $bbL) (local.get $bbH)))
    (f64.store offset=24 (global.get $region) (f64.add (f64.load offset=24 (global.get $region))
      (f64.add (f64x2.extract_lane 0 (local.get $s)) (f64x2.extract_lane 1 (local.get $s)))))
    (local.set $s (f64x2.add (local.get $abL) (local.get $abH)))
    (f64.store offset=32 (global.get $region) (f64.add (f64.load offset=32 (global.get $region))
      (f64.add (f64x2.extract_lane 0 (local.get $s)) (f64x2.extract_lane 1 (local.get $s)))))
    ;; The lane minima hold no NaN (non-finite deltas were replaced by NaN, which pmin ignores).
    (f32.store offset=40 (global.get $region) (f32.min (f32.load offset=40 (global.get $region))
      (f32.min (f32.min (f32x4.extract_lane 0 (local.get $min)) (f32x4.extract_lane 1 (local.get $min)))
               (f32.min (f32x4.extract_lane 2 (local.get $min)) (f32x4.extract_lane 3 (local.get $min))))))
    (f32.store offset=44 (global.get $region) (f32.max (f32.load offset=44 (global.get $region))
      (f32.max (f32.max (f32x4.extract_lane 0 (local.get $max)) (f32x4.extract_lane 1 (local.get $max)))
               (f32.max (f32x4.extract_lane 2 (local.get $max)) (f32x4.extract_lane 3 (local.get $max))))))
    (i32.store offset=48 (global.get $region) (i32.add (i32.load offset=48 (global.get $region))
      (i32.add (i32.add (i32x4.extract_lane 0 (local.get $unchanged)) (i32x4.extract_lane 1 (local.get $unchanged)))
               (i32.add (i32x4.extract_lane 2 (local.get $unchanged)) (i32x4.extract_lane 3 (local.get $unchanged))))))
    (i32.store offset=52 (global.get $region) (i32.add (i32.load offset=52 (global.get $region))
      (i32.add (i32.add (i32x4.extract_lane 0 (local.get $finite)) (i32x4.extract_lane 1 (local.get $finite)))
               (i32.add (i32x4.extract_lane 2 (local.get $finite)) (i32x4.extract_lane 3 (local.get $finite))))))
    (i32.store offset=56 (global.get $region) (local.get $touched)))

  ;; Adds the second histogram into the first and clears it, lists the keys of the non-zero counters at 327680
  ;; and stores how many there are at 56.
  (func (export "collect_touched")
    (local $key i32) (local $touched i32) (local $v v128)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $key) (i32.const 65536)))
      (local.set $v (i32x4.add (v128.load offset=65536 (i32.add (global.get $region) (i32.shl (local.get $key) (i32.const 2))))
                               (v128.load offset=720896 (i32.add (global.get $region) (i32.shl (local.get $key) (i32.const 2))))))
      (if (v128.any_true (local.get $v)) (then
        (v128.store offset=65536 (i32.add (global.get $region) (i32.shl (local.get $key) (i32.const 2))) (local.get $v))
        (v128.store offset=720896 (i32.add (global.get $region) (i32.shl (local.get $key) (i32.const 2))) (v128.const i32x4 0 0 0 0))
        (if (i32x4.extract_lane 0 (local.get $v)) (then
          (i32.store offset=327680 (i32.add (global.get $region) (i32.shl (local.get $touched) (i32.const 2))) (i32.add (local.get $key) (i32.const 0)))
          (local.set $touched (i32.add (local.get $touched) (i32.const 1)))))
        (if (i32x4.extract_lane 1 (local.get $v)) (then
          (i32.store offset=327680 (i32.add (global.get $region) (i32.shl (local.get $touched) (i32.const 2))) (i32.add (local.get $key) (i32.const 1)))
          (local.set $touched (i32.add (local.get $touched) (i32.const 1)))))
        (if (i32x4.extract_lane 2 (local.get $v)) (then
          (i32.store offset=327680 (i32.add (global.get $region) (i32.shl (local.get $touched) (i32.const 2))) (i32.add (local.get $key) (i32.const 2)))
          (local.set $touched (i32.add (local.get $touched) (i32.const 1)))))
        (if (i32x4.extract_lane 3 (local.get $v)) (then
          (i32.store offset=327680 (i32.add (global.get $region) (i32.shl (local.get $touched) (i32.const 2))) (i32.add (local.get $key) (i32.const 3)))
          (local.set $touched (i32.add (local.get $touched) (i32.const 1)))))))
      (local.set $key (i32.add (local.get $key) (i32.const 4)))
      (br $next)))
    (i32.store offset=56 (global.get $region) (local.get $touched)))

  ;; out = bf16(b - a) for bfloat16 a, b.
  (func (export "sub_bf16") (param $a i32) (param $b i32) (param $out i32) (param $n i32)
    (local $end i32) (local $va v128) (local $vb v128) (local $e v128) (local $o v128)
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 1))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
      (local.set $va (v128.load (local.get $a)))
      (local.set $vb (v128.load (local.get $b)))
      (local.set $e (f32x4.sub (i32x4.shl (local.get $vb) (i32.const 16)) (i32x4.shl (local.get $va) (i32.const 16))))
      (local.set $o (f32x4.sub (v128.and (local.get $vb) (v128.const i32x4 0xffff0000 0xffff0000 0xffff0000 0xffff0000))
                               (v128.and (local.get $va) (v128.const i32x4 0xffff0000 0xffff0000 0xffff0000 0xffff0000))))
      (local.set $e (i32x4.add (i32x4.add (local.get $e) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff))
                               (v128.and (i32x4.shr_u (local.get $e) (i32.const 16)) (v128.const i32x4 1 1 1 1))))
      (local.set $o (i32x4.add (i32x4.add (local.get $o) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff))
                               (v128.and (i32x4.shr_u (local.get $o) (i32.const 16)) (v128.const i32x4 1 1 1 1))))
      (v128.store (local.get $out) (v128.or (i32x4.shr_u (local.get $e) (i32.const 16))
                                            (v128.and (local.get $o) (v128.const i32x4 0xffff0000 0xffff0000 0xffff0000 0xffff0000))))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br $next))))

  ;; out = bf16(b - a) for bfloat16 a, b, with statistics of the binary32 delta. Products of widened bfloat16
  ;; values are exact in binary32; the sums run in binary32 lanes over blocks of 128 elements (16 terms a
  ;; lane) and then in binary64 (see $flush_block_sums), which keeps the loop within the vector registers.
  (func (export "sub_bf16_stats") (param $a i32) (param $b i32) (param $out i32) (param $n i32)
    (call $sub_bf16_stats_into (local.get $a) (local.get $b) (local.get $out) (local.get $n) (i32.const 0)))

  ;; out = f32(b - a) for bfloat16 a, b, with the same statistics.
  (func (export "sub_bf16_f32_stats") (param $a i32) (param $b i32) (param $out i32) (param $n i32)
    (call $sub_bf16_stats_into (local.get $a) (local.get $b) (local.get $out) (local.get $n) (i32.const 1)))

  ;; The statistics kernel of bfloat16 operands; `$wide` stores the delta as binary32 instead of rounding it to
  ;; bfloat16 (a branch per 8 elements that always goes the same way).
  ;;
  ;; Each block of 128 elements first runs without finiteness masks: the histogram, the output and the
  ;; unchanged count never depend on them, and the sums, minimum and maximum only differ from the masked ones
  ;; when some delta is not finite. A non-finite delta makes its lane's sum of squares infinite or NaN, so a
  ;; block whose sums of squares stay finite keeps its fast results; any other block (also one whose squares
  ;; merely overflow) has its sums, minimum, maximum and finite count recomputed with the masks by
  ;; $bf16_block_statistics_masked. Both ways give the same bits; real weights almost never take the slow one.
  (func $sub_bf16_stats_into (param $a i32) (param $b i32) (param $out i32) (param $n i32) (param $wide i32)
    (local $end i32) (local $blockEnd i32) (local $blockBytes i32) (local $blockA i32) (local $blockB i32) (local $finiteCount i32)
    (local $va v128) (local $vb v128)
    (local $ae v128) (local $be v128) (local $ao v128) (local $bo v128) (local $e v128) (local $o v128)
    (local $ke v128) (local $ko v128)
    (local $unchanged v128) (local $min v128) (local $max v128) (local $blockMin v128) (local $blockMax v128)
    (local $sum v128) (local $sq v128) (local $aa v128) (local $bb v128) (local $ab v128)
    (local $touched i32) (local $key i32) (local $regionKeys v128)
    (local.set $regionKeys (i32x4.splat (global.get $region)))
    (local.set $min (v128.const f32x4 inf inf inf inf))
    (local.set $max (v128.const f32x4 -inf -inf -inf -inf))
    (local.set $touched (i32.load offset=56 (global.get $region)))
    (call $clear_block_sums)
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 1))))
    (block $done (loop $blocks
      (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
      (local.set $blockEnd (select (local.get $end) (i32.add (local.get $a) (i32.const 256))
        (i32.lt_u (i32.sub (local.get $end) (local.get $a)) (i32.const 256))))
      (local.set $blockBytes (i32.sub (local.get $blockEnd) (local.get $a)))
      (local.set $blockA (local.get $a))
      (local.set $blockB (local.get $b))
      ;; Written in place, the block's operands would be gone when the masked pass needs them: keep a copy.
      (if (i32.or (i32.eq (local.get $out) (local.get $a)) (i32.eq (local.get $out) (local.get $b)))
        (then
          (local.set $blockA (i32.add (global.get $region) (i32.const 589824)))
          (local.set $blockB (i32.add (global.get $region) (i32.const 590080)))
          (memory.copy (local.get $blockA) (local.get $a) (local.get $blockBytes))
          (memory.copy (local.get $blockB) (local.get $b) (local.get $blockBytes))))
      (local.set $sum (v128.const i32x4 0 0 0 0))
      (local.set $sq (v128.const i32x4 0 0 0 0))
      (local.set $aa (v128.const i32x4 0 0 0 0))
      (local.set $bb (v128.const i32x4 0 0 0 0))
      (local.set $ab (v128.const i32x4 0 0 0 0))
      (local.set $blockMin (v128.const f32x4 inf inf inf inf))
      (local.set $blockMax (v128.const f32x4 -inf -inf -inf -inf))
      (block $blockDone (loop $next
        (br_if $blockDone (i32.ge_u (local.get $a) (local.get $blockEnd)))
        (local.set $va (v128.load (local.get $a)))
        (local.set $vb (v128.load (local.get $b)))
        (local.set $ae (i32x4.shl (local.get $va) (i32.const 16)))
        (local.set $be (i32x4.shl (local.get $vb) (i32.const 16)))
        (local.set $ao (v128.and (local.get $va) (v128.const i32x4 0xffff0000 0xffff0000 0xffff0000 0xffff0000)))
        (local.set $bo (v128.and (local.get $vb) (v128.const i32x4 0xffff0000 0xffff0000 0xffff0000 0xffff0000)))
        (local.set $e (f32x4.sub (local.get $be) (local.get $ae)))
        (local.set $o (f32x4.sub (local.get $bo) (local.get $ao)))
        (local.set $unchanged (i32x4.sub (i32x4.sub (local.get $unchanged) (f32x4.eq (local.get $ae) (local.get $be)))
                                         (f32x4.eq (local.get $ao) (local.get $bo))))
        (local.set $blockMin (f32x4.pmin (f32x4.pmin (local.get $blockMin) (local.get $e)) (local.get $o)))
        (local.set $blockMax (f32x4.pmax (f32x4.pmax (local.get $blockMax) (local.get $e)) (local.get $o)))
        (local.set $sum (f32x4.add (local.get $sum) (f32x4.add (local.get $e) (local.get $o))))
        (local.set $sq (f32x4.add (local.get $sq) (f32x4.add (f32x4.mul (local.get $e) (local.get $e)) (f32x4.mul (local.get $o) (local.get $o)))))
        (local.set $aa (f32x4.add (local.get $aa) (f32x4.add (f32x4.mul (local.get $ae) (local.get $ae)) (f32x4.mul (local.get $ao) (local.get $ao)))))
        (local.set $bb (f32x4.add (local.get $bb) (f32x4.add (f32x4.mul (local.get $be) (local.get $be)) (f32x4.mul (local.get $bo) (local.get $bo)))))
        (local.set $ab (f32x4.add (local.get $ab) (f32x4.add (f32x4.mul (local.get $ae) (local.get $be)) (f32x4.mul (local.get $ao) (local.get $bo)))))
        ;; Histogram keys as byte offsets of u32 counters: the top 16 bits of the delta, times 4.
        (local.set $ke (i32x4.add (local.get $regionKeys) (v128.and (i32x4.shr_u (local.get $e) (i32.const 14)) (v128.const i32x4 0x3fffc 0x3fffc 0x3fffc 0x3fffc))))
        (local.set $ko (i32x4.add (local.get $regionKeys) (v128.and (i32x4.shr_u (local.get $o) (i32.const 14)) (v128.const i32x4 0x3fffc 0x3fffc 0x3fffc 0x3fffc))))
        (local.set $key (i32x4.extract_lane 0 (local.get $ke)))
        (i32.store offset=65536 (local.get $key) (i32.add (i32.load offset=65536 (local.get $key)) (i32.const 1)))
        (local.set $key (i32x4.extract_lane 1 (local.get $ke)))
        (i32.store offset=65536 (local.get $key) (i32.add (i32.load offset=65536 (local.get $key)) (i32.const 1)))
        (local.set $key (i32x4.extract_lane 2 (local.get $ke)))
        (i32.store offset=65536 (local.get $key) (i32.add (i32.load offset=65536 (local.get $key)) (i32.const 1)))
        (local.set $key (i32x4.extract_lane 3 (local.get $ke)))
        (i32.store offset=65536 (local.get $key) (i32.add (i32.load offset=65536 (local.get $key)) (i32.const 1)))
        (local.set $key (i32x4.extract_lane 0 (local.get $ko)))
        (i32.store offset=720896 (local.get $key) (i32.add (i32.load offset=720896 (local.get $key)) (i32.const 1)))
        (local.set $key (i32x4.extract_lane 1 (local.get $ko)))
        (i32.store offset=720896 (local.get $key) (i32.add (i32.load offset=720896 (local.get $key)) (i32.const 1)))
        (local.set $key (i32x4.extract_lane 2 (local.get $ko)))
        (i32.store offset=720896 (local.get $key) (i32.add (i32.load offset=720896 (local.get $key)) (i32.const 1)))
        (local.set $key (i32x4.extract_lane 3 (local.get $ko)))
        (i32.store offset=720896 (local.get $key) (i32.add (i32.load offset=720896 (local.get $key)) (i32.const 1)))
        (if (local.get $wide)
          (then
            ;; Elements 0, 2, 4, 6 are in $e and 1, 3, 5, 7 in $o: interleave them back into order.
            (v128.store (local.get $out) (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $e) (local.get $o)))
            (v128.store offset=16 (local.get $out) (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $e) (local.get $o)))
            (local.set $out (i32.add (local.get $out) (i32.const 32))))
          (else
            (local.set $e (i32x4.add (i32x4.add (local.get $e) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff))
                                     (v128.and (i32x4.shr_u (local.get $e) (i32.const 16)) (v128.const i32x4 1 1 1 1))))
            (local.set $o (i32x4.add (i32x4.add (local.get $o) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff))
                                     (v128.and (i32x4.shr_u (local.get $o) (i32.const 16)) (v128.const i32x4 1 1 1 1))))
            (v128.store (local.get $out) (v128.or (i32x4.shr_u (local.get $e) (i32.const 16))
                                                  (v128.and (local.get $o) (v128.const i32x4 0xffff0000 0xffff0000 0xffff0000 0xffff0000))))
            (local.set $out (i32.add (local.get $out) (i32.const 16)))))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (local.set $b (i32.add (local.get $b) (i32.const 16)))
        (br $next)))
      (if (i32x4.all_true (f32x4.lt (f32x4.abs (local.get $sq)) (v128.const f32x4 inf inf inf inf)))
        (then
          (call $flush_block_sums (local.get $sum) (local.get $sq) (local.get $aa) (local.get $bb) (local.get $ab))
          (local.set $min (f32x4.pmin (local.get $min) (local.get $blockMin)))
          (local.set $max (f32x4.pmax (local.get $max) (local.get $blockMax)))
          (local.set $finiteCount (i32.add (local.get $finiteCount) (i32.shr_u (local.get $blockBytes) (i32.const 1)))))
        (else
          (local.set $finiteCount (i32.add (local.get $finiteCount) (call $bf16_block_statistics_masked
            (local.get $blockA) (local.get $blockB) (local.get $blockBytes))))
          ;; The masked pass leaves its minimum and maximum in the statistics block's scratch lanes.
          (local.set $min (f32x4.pmin (local.get $min) (v128.load offset=208 (global.get $region))))
          (local.set $max (f32x4.pmax (local.get $max) (v128.load offset=224 (global.get $region))))))
      (br $blocks)))
    (call $store_block_statistics (local.get $unchanged) (i32x4.replace_lane 0 (v128.const i32x4 0 0 0 0) (local.get $finiteCount))
      (local.get $min) (local.get $max) (local.get $touched)))

  ;; The sums, minimum and maximum of one block of `$bytes` of bfloat16 deltas b - a over the elements whose delta
  ;; is finite: flushes the sums, leaves the lane minima at 208 and maxima at 224 of the region, returns the
  ;; finite count.
  (func $bf16_block_statistics_masked (param $a i32) (param $b i32) (param $bytes i32) (result i32) (local $end i32)
    (local $va v128) (local $vb v128) (local $ae v128) (local $be v128) (local $ao v128) (local $bo v128)
    (local $e v128) (local $o v128) (local $fe v128) (local $fo v128) (local $finite v128) (local $min v128) (local $max v128)
    (local $sum v128) (local $sq v128) (local $aa v128) (local $bb v128) (local $ab v128)
    (local.set $min (v128.const f32x4 inf inf inf inf))
    (local.set $max (v128.const f32x4 -inf -inf -inf -inf))
    (local.set $end (i32.add (local.get $a) (local.get $bytes)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
      (local.set $va (v128.load (local.get $a)))
      (local.set $vb (v128.load (local.get $b)))
      (local.set $ae (i32x4.shl (local.get $va) (i32.const 16)))
      (local.set $be (i32x4.shl (local.get $vb) (i32.const 16)))
      (local.set $ao (v128.and (local.get $va) (v128.const i32x4 0xffff0000 0xffff0000 0xffff0000 0xffff0000)))
      (local.set $bo (v128.and (local.get $vb) (v128.const i32x4 0xffff0000 0xffff0000 0xffff0000 0xffff0000)))
      (local.set $e (f32x4.sub (local.get $be) (local.get $ae)))
      (local.set $o (f32x4.sub (local.get $bo) (local.get $ao)))
      ;; Lanes whose delta is not finite take no part in the sums, the minimum or the maximum.
      (local.set $fe (f32x4.lt (f32x4.abs (local.get $e)) (v128.const f32x4 inf inf inf inf)))
      (local.set $fo (f32x4.lt (f32x4.abs (local.get $o)) (v128.const f32x4 inf inf inf inf)))
      (local.set $finite (i32x4.sub (i32x4.sub (local.get $finite) (local.get $fe)) (local.get $fo)))
      (local.set $min (f32x4.pmin (f32x4.pmin (local.get $min)
        (v128.bitselect (local.get $e) (v128.const f32x4 nan nan nan nan) (local.get $fe)))
        (v128.bitselect (local.get $o) (v128.const f32x4 nan nan nan nan) (local.get $fo))))
      (local.set $max (f32x4.pmax (f32x4.pmax (local.get $max)
        (v128.bitselect (local.get $e) (v128.const f32x4 nan nan nan nan) (local.get $fe)))
        (v128.bitselect (local.get $o) (v128.const f32x4 nan nan nan nan) (local.get $fo))))
      (local.set $e (v128.and (local.get $e) (local.get $fe)))
      (local.set $o (v128.and (local.get $o) (local.get $fo)))
      (local.set $ae (v128.and (local.get $ae) (local.get $fe)))
      (local.set $ao (v128.and (local.get $ao) (local.get $fo)))
      (local.set $be (v128.and (local.get $be) (local.get $fe)))
      (local.set $bo (v128.and (local.get $bo) (local.get $fo)))
      (local.set $sum (f32x4.add (local.get $sum) (f32x4.add (local.get $e) (local.get $o))))
      (local.set $sq (f32x4.add (local.get $sq) (f32x4.add (f32x4.mul (local.get $e) (local.get $e)) (f32x4.mul (local.get $o) (local.get $o)))))
      (local.set $aa (f32x4.add (local.get $aa) (f32x4.add (f32x4.mul (local.get $ae) (local.get $ae)) (f32x4.mul (local.get $ao) (local.get $ao)))))
      (local.set $bb (f32x4.add (local.get $bb) (f32x4.add (f32x4.mul (local.get $be) (local.get $be)) (f32x4.mul (local.get $bo) (local.get $bo)))))
      (local.set $ab (f32x4.add (local.get $ab) (f32x4.add (f32x4.mul (local.get $ae) (local.get $be)) (f32x4.mul (local.get $ao) (local.get $bo)))))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (br $next)))
    (call $flush_block_sums (local.get $sum) (local.get $sq) (local.get $aa) (local.get $bb) (local.get $ab))
    (v128.store offset=208 (global.get $region) (local.get $min))
    (v128.store offset=224 (global.get $region) (local.get $max))
    (i32.add (i32.add (i32x4.extract_lane 0 (local.get $finite)) (i32x4.extract_lane 1 (local.get $finite)))
             (i32.add (i32x4.extract_lane 2 (local.get $finite)) (i32x4.extract_lane 3 (local.get $finite)))))

  ;; Binary64 partial sums of the statistics kernels, two lanes each, at 128: sum, sum of squares, base sum of
  ;; squares, other sum of squares, dot.
  (func $clear_block_sums
    (v128.store offset=128 (global.get $region) (v128.const i32x4 0 0 0 0))
    (v128.store offset=144 (global.get $region) (v128.const i32x4 0 0 0 0))
    (v128.store offset=160 (global.get $region) (v128.const i32x4 0 0 0 0))
    (v128.store offset=176 (global.get $region) (v128.const i32x4 0 0 0 0))
    (v128.store offset=192 (global.get $region) (v128.const i32x4 0 0 0 0)))

  ;; Adds four binary32 lanes to the two binary64 lanes at `address`.
  (func $add_lanes_f64 (param $address i32) (param $x v128)
    (v128.store (local.get $address) (f64x2.add (v128.load (local.get $address))
      (f64x2.add (f64x2.promote_low_f32x4 (local.get $x))
                 (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $x) (local.get $x)))))))

  (func $flush_block_sums (param $sum v128) (param $sq v128) (param $aa v128) (param $bb v128) (param $ab v128)
    (call $add_lanes_f64 (i32.add (global.get $region) (i32.const 128)) (local.get $sum))
    (call $add_lanes_f64 (i32.add (global.get $region) (i32.const 144)) (local.get $sq))
    (call $add_lanes_f64 (i32.add (global.get $region) (i32.const 160)) (local.get $aa))
    (call $add_lanes_f64 (i32.add (global.get $region) (i32.const 176)) (local.get $bb))
    (call $add_lanes_f64 (i32.add (global.get $region) (i32.const 192)) (local.get $ab)))

  ;; Adds the block sums and the lane accumulators of one call into the statistics block.
  (func $store_block_statistics
    (param $unchanged v128) (param $finite v128) (param $min v128) (param $max v128) (param $touched i32)
    (call $store_statistics (local.get $unchanged) (local.get $finite) (local.get $min) (local.get $max)
      (v128.load offset=128 (global.get $region)) (v128.const i32x4 0 0 0 0) (v128.load offset=144 (global.get $region)) (v128.const i32x4 0 0 0 0)
      (v128.load offset=160 (global.get $region)) (v128.const i32x4 0 0 0 0) (v128.load offset=176 (global.get $region)) (v128.const i32x4 0 0 0 0)
      (v128.load offset=192 (global.get $region)) (v128.const i32x4 0 0 0 0) (local.get $touched)))

  ;; out = bf16(c + r) for bfloat16 c, r: addScaled with alpha 1, where the fused multiply-add is a plain add.
  (func (export "add_bf16") (param $c i32) (param $r i32) (param $out i32) (param $n i32)
    (local $end i32) (local $vc v128) (local $vr v128) (local $e v128) (local $o v128)
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 1))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
      (local.set $vc (v128.load (local.get $c)))
      (local.set $vr (v128.load (local.get $r)))
      (local.set $e (f32x4.add (i32x4.shl (local.get $vc) (i32.const 16)) (i32x4.shl (local.get $vr) (i32.const 16))))
      (local.set $o (f32x4.add (v128.and (local.get $vc) (v128.const i32x4 0xffff0000 0xffff0000 0xffff0000 0xffff0000))
                               (v128.and (local.get $vr) (v128.const i32x4 0xffff0000 0xffff0000 0xffff0000 0xffff0000))))
      (local.set $e (i32x4.add (i32x4.add (local.get $e) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff))
                               (v128.and (i32x4.shr_u (local.get $e) (i32.const 16)) (v128.const i32x4 1 1 1 1))))
      (local.set $o (i32x4.add (i32x4.add (local.get $o) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff))
                               (v128.and (i32x4.shr_u (local.get $o) (i32.const 16)) (v128.const i32x4 1 1 1 1))))
      (v128.store (local.get $out) (v128.or (i32x4.shr_u (local.get $e) (i32.const 16))
                                            (v128.and (local.get $o) (v128.const i32x4 0xffff0000 0xffff0000 0xffff0000 0xffff0000))))
      (local.set $c (i32.add (local.get $c) (i32.const 16)))
      (local.set $r (i32.add (local.get $r) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br $next))))

  ;; out = bf16(c + r) for bfloat16 c and binary32 r (alpha 1: the fused multiply-add is the binary32 sum).
  (func (export "add_bf16_f32") (param $c i32) (param $r i32) (param $out i32) (param $n i32)
    (local $end i32) (local $vc v128) (local $r0 v128) (local $r1 v128) (local $e v128) (local $o v128)
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 1))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
      (local.set $vc (v128.load (local.get $c)))
      (local.set $r0 (v128.load (local.get $r)))
      (local.set $r1 (v128.load offset=16 (local.get $r)))
      ;; The residual's elements 0, 2, 4, 6 and 1, 3, 5, 7, to meet the bfloat16 halves.
      (local.set $e (f32x4.add (i32x4.shl (local.get $vc) (i32.const 16))
                               (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $r0) (local.get $r1))))
      (local.set $o (f32x4.add (v128.and (local.get $vc) (v128.const i32x4 0xffff0000 0xffff0000 0xffff0000 0xffff0000))
                               (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $r0) (local.get $r1))))
      ;; Rounded to bfloat16 with NaN selected explicitly: a binary32 residual's NaN may have low bits that carry
      ;; (as $f32_to_bf16_upper does, written out here because V8 does not inline calls in this loop).
      (local.set $e (v128.bitselect (v128.or (local.get $e) (v128.const i32x4 0x00400000 0x00400000 0x00400000 0x00400000))
        (i32x4.add (i32x4.add (local.get $e) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff))
                   (v128.and (i32x4.shr_u (local.get $e) (i32.const 16)) (v128.const i32x4 1 1 1 1)))
        (f32x4.ne (local.get $e) (local.get $e))))
      (local.set $o (v128.bitselect (v128.or (local.get $o) (v128.const i32x4 0x00400000 0x00400000 0x00400000 0x00400000))
        (i32x4.add (i32x4.add (local.get $o) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff))
                   (v128.and (i32x4.shr_u (local.get $o) (i32.const 16)) (v128.const i32x4 1 1 1 1)))
        (f32x4.ne (local.get $o) (local.get $o))))
      (v128.store (local.get $out) (v128.or (i32x4.shr_u (local.get $e) (i32.const 16))
                                            (v128.and (local.get $o) (v128.const i32x4 0xffff0000 0xffff0000 0xffff0000 0xffff0000))))
      (local.set $c (i32.add (local.get $c) (i32.const 16)))
      (local.set $r (i32.add (local.get $r) (i32.const 32)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br $next))))

  ;; out = f32(b - a) for bfloat16 a, b.
  (func (export "sub_bf16_f32") (param $a i32) (param $b i32) (param $out i32) (param $n i32)
    (local $end i32) (local $va v128) (local $vb v128)
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
      (local.set $va (v128.load (local.get $a)))
      (local.set $vb (v128.load (local.get $b)))
      (v128.store offset=0 (local.get $out) (f32x4.sub
        (i8x16.shuffle 16 16 0 1 16 16 2 3 16 16 4 5 16 16 6 7 (local.get $vb) (v128.const i32x4 0 0 0 0))
        (i8x16.shuffle 16 16 0 1 16 16 2 3 16 16 4 5 16 16 6 7 (local.get $va) (v128.const i32x4 0 0 0 0))))
      (v128.store offset=16 (local.get $out) (f32x4.sub
        (i8x16.shuffle 16 16 8 9 16 16 10 11 16 16 12 13 16 16 14 15 (local.get $vb) (v128.const i32x4 0 0 0 0))
        (i8x16.shuffle 16 16 8 9 16 16 10 11 16 16 12 13 16 16 14 15 (local.get $va) (v128.const i32x4 0 0 0 0))))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 32)))
      (br $next))))

  ;; Widens the upper halves of the lanes of `x` from binary16 to binary32 bits (exact; NaN payload kept).
  ;; Magic-number method after F. Giesen: rebias the exponent, fix up infinities and NaN, and let the
  ;; FPU normalise subnormals by subtracting 2^-14.
  ;; @inline
  (func $f16_upper_to_f32 (param $x v128) (result v128)
    (local $o v128) (local $exp v128)
    (local.set $o (v128.and (i32x4.shr_u (local.get $x) (i32.const 3)) (v128.const i32x4 0x0fffe000 0x0fffe000 0x0fffe000 0x0fffe000)))
    (local.set $exp (v128.and (local.get $o) (v128.const i32x4 0x0f800000 0x0f800000 0x0f800000 0x0f800000)))
    (local.set $o (i32x4.add (local.get $o) (v128.const i32x4 0x38000000 0x38000000 0x38000000 0x38000000)))
    (local.set $o (i32x4.add (local.get $o) (v128.and
      (i32x4.eq (local.get $exp) (v128.const i32x4 0x0f800000 0x0f800000 0x0f800000 0x0f800000))
      (v128.const i32x4 0x38000000 0x38000000 0x38000000 0x38000000))))
    (local.set $o (v128.bitselect
      (f32x4.sub (i32x4.add (local.get $o) (v128.const i32x4 0x00800000 0x00800000 0x00800000 0x00800000))
                 (v128.const i32x4 0x38800000 0x38800000 0x38800000 0x38800000))
      (local.get $o)
      (i32x4.eq (local.get $exp) (v128.const i32x4 0 0 0 0))))
    (v128.or (local.get $o) (v128.and (local.get $x) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))))

  ;; Rounds binary32 lanes to binary16 bits in the low halves (nearest, ties to even; overflow to
  ;; infinity; NaN to 0x7e00 with its sign). Normals round with an integer add, subnormals by adding 0.5
  ;; so that the FPU rounds at 2^-24 (F. Giesen's float_to_half_fast3_rtne).
  ;; @inline
  (func $f32_to_f16_low (param $f v128) (result v128)
    (local $sign v128) (local $a v128) (local $r v128)
    (local.set $sign (v128.and (local.get $f) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000)))
    (local.set $a (v128.xor (local.get $f) (local.get $sign)))
    (local.set $r (i32x4.shr_u (i32x4.add (i32x4.add (local.get $a) (v128.const i32x4 0xc8000fff 0xc8000fff 0xc8000fff 0xc8000fff))
                                          (v128.and (i32x4.shr_u (local.get $a) (i32.const 13)) (v128.const i32x4 1 1 1 1)))
                               (i32.const 13)))
    (local.set $r (v128.bitselect
      (i32x4.sub (f32x4.add (local.get $a) (v128.const f32x4 0.5 0.5 0.5 0.5)) (v128.const i32x4 0x3f000000 0x3f000000 0x3f000000 0x3f000000))
      (local.get $r)
      (i32x4.lt_s (local.get $a) (v128.const i32x4 0x38800000 0x38800000 0x38800000 0x38800000))))
    (local.set $r (v128.bitselect
      (v128.or (v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00)
               (v128.and (i32x4.gt_s (local.get $a) (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))
                         (v128.const i32x4 0x0200 0x0200 0x0200 0x0200)))
      (local.get $r)
      (i32x4.ge_s (local.get $a) (v128.const i32x4 0x47800000 0x47800000 0x47800000 0x47800000))))
    (v128.or (local.get $r) (i32x4.shr_u (local.get $sign) (i32.const 16))))

  ;; out = f16(b - a) for binary16 a, b.
  (func (export "sub_f16") (param $a i32) (param $b i32) (param $out i32) (param $n i32)
    (local $end i32) (local $va v128) (local $vb v128) (local $e v128) (local $o v128)
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 1))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
      (local.set $va (v128.load (local.get $a)))
      (local.set $vb (v128.load (local.get $b)))
      (local.set $e (f32x4.sub (call $f16_upper_to_f32 (i32x4.shl (local.get $vb) (i32.const 16)))
                               (call $f16_upper_to_f32 (i32x4.shl (local.get $va) (i32.const 16)))))
      (local.set $o (f32x4.sub
        (call $f16_upper_to_f32 (v128.and (local.get $vb) (v128.const i32x4 0xffff0000 0xffff0000 0xffff0000 0xffff0000)))
        (call $f16_upper_to_f32 (v128.and (local.get $va) (v128.const i32x4 0xffff0000 0xffff0000 0xffff0000 0xffff0000)))))
      (v128.store (local.get $out) (v128.or (call $f32_to_f16_low (local.get $e))
                                            (i32x4.shl (call $f32_to_f16_low (local.get $o)) (i32.const 16))))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br $next))))

  ;; out = b - a for binary32 a, b (out may be a binary32 scratch block of a mixed-dtype kernel).
  (func (export "sub_f32") (param $a i32) (param $b i32) (param $out i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
      (v128.store offset=0 (local.get $out) (f32x4.sub (v128.load offset=0 (local.get $b)) (v128.load offset=0 (local.get $a))))
      (v128.store offset=16 (local.get $out) (f32x4.sub (v128.load offset=16 (local.get $b)) (v128.load offset=16 (local.get $a))))
      (local.set $a (i32.add (local.get $a) (i32.const 32)))
      (local.set $b (i32.add (local.get $b) (i32.const 32)))
      (local.set $out (i32.add (local.get $out) (i32.const 32)))
      (br $next))))

  ;; out = b - a for binary32 a, b, with statistics of the delta.
  (func (export "sub_f32_stats") (param $a i32) (param $b i32) (param $out i32) (param $n i32)
    (local $end i32) (local $a0 v128) (local $b0 v128) (local $d0 v128) (local $a1 v128) (local $b1 v128) (local $d1 v128)
    (local $fin v128) (local $t v128) (local $lo v128) (local $hi v128) (local $aL v128) (local $aH v128)
    (local $unchanged v128) (local $finite v128) (local $min v128) (local $max v128)
    (local $sumL v128) (local $sumH v128) (local $sqL v128) (local $sqH v128) (local $aaL v128) (local $aaH v128)
    (local $bbL v128) (local $bbH v128) (local $abL v128) (local $abH v128) (local $touched i32) (local $key i32) (local $n1 i32)
    (local.set $min (v128.const f32x4 inf inf inf inf))
    (local.set $max (v128.const f32x4 -inf -inf -inf -inf))
    (local.set $touched (i32.load offset=56 (global.get $region)))
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
      (local.set $a0 (v128.load offset=0 (local.get $a)))
      (local.set $b0 (v128.load offset=0 (local.get $b)))
      (local.set $a1 (v128.load offset=16 (local.get $a)))
      (local.set $b1 (v128.load offset=16 (local.get $b)))
      (local.set $d0 (f32x4.sub (local.get $b0) (local.get $a0)))
      (local.set $d1 (f32x4.sub (local.get $b1) (local.get $a1)))
      (v128.store offset=0 (local.get $out) (local.get $d0))
      (v128.store offset=16 (local.get $out) (local.get $d1))

        ;; statistics of lanes ($a0, $b0, $d0)
        (local.set $fin (f32x4.lt (f32x4.abs (local.get $d0)) (v128.const f32x4 inf inf inf inf)))
        (local.set $unchanged (i32x4.sub (local.get $unchanged) (f32x4.eq (local.get $a0) (local.get $b0))))
        (local.set $finite (i32x4.sub (local.get $finite) (local.get $fin)))
        (local.set $lo (v128.bitselect (local.get $d0) (v128.const f32x4 nan nan nan nan) (local.get $fin)))
        (local.set $min (f32x4.pmin (local.get $min) (local.get $lo)))
        (local.set $max (f32x4.pmax (local.get $max) (local.get $lo)))
        (local.set $t (v128.and (local.get $d0) (local.get $fin)))
        (local.set $lo (f64x2.promote_low_f32x4 (local.get $t)))
        (local.set $hi (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $t) (local.get $t))))
        (local.set $sumL (f64x2.add (local.get $sumL) (local.get $lo)))
        (local.set $sumH (f64x2.add (local.get $sumH) (local.get $hi)))
        (local.set $sqL (f64x2.add (local.get $sqL) (f64x2.mul (local.get $lo) (local.get $lo))))
        (local.set $sqH (f64x2.add (local.get $sqH) (f64x2.mul (local.get $hi) (local.get $hi))))
        (local.set $t (v128.and (local.get $a0) (local.get $fin)))
        (local.set $aL (f64x2.promote_low_f32x4 (local.get $t)))
        (local.set $aH (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $t) (local.get $t))))
        (local.set $t (v128.and (local.get $b0) (local.get $fin)))
        (local.set $lo (f64x2.promote_low_f32x4 (local.get $t)))
        (local.set $hi (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $t) (local.get $t))))
        (local.set $aaL (f64x2.add (local.get $aaL) (f64x2.mul (local.get $aL) (local.get $aL))))
        (local.set $aaH (f64x2.add (local.get $aaH) (f64x2.mul (local.get $aH) (local.get $aH))))
        (local.set $bbL (f64x2.add (local.get $bbL) (f64x2.mul (local.get $lo) (local.get $lo))))
        (local.set $bbH (f64x2.add (local.get $bbH) (f64x2.mul (local.get $hi) (local.get $hi))))
        (local.set $abL (f64x2.add (local.get $abL) (f64x2.mul (local.get $aL) (local.get $lo))))
        (local.set $abH (f64x2.add (local.get $abH) (f64x2.mul (local.get $aH) (local.get $hi))))
        (local.set $t (i32x4.shr_u (local.get $d0) (i32.const 16)))
        (local.set $key (i32.add (global.get $region) (i32.shl (i32x4.extract_lane 0 (local.get $t)) (i32.const 2))))
        (local.set $n1 (i32.add (i32.load offset=65536 (local.get $key)) (i32.const 1)))
        (i32.store offset=65536 (local.get $key) (local.get $n1))
        (local.set $key (i32.add (global.get $region) (i32.shl (i32x4.extract_lane 1 (local.get $t)) (i32.const 2))))
        (local.set $n1 (i32.add (i32.load offset=65536 (local.get $key)) (i32.const 1)))
        (i32.store offset=65536 (local.get $key) (local.get $n1))
        (local.set $key (i32.add (global.get $region) (i32.shl (i32x4.extract_lane 2 (local.get $t)) (i32.const 2))))
        (local.set $n1 (i32.add (i32.load offset=65536 (local.get $key)) (i32.const 1)))
        (i32.store offset=65536 (local.get $key) (local.get $n1))
        (local.set $key (i32.add (global.get $region) (i32.shl (i32x4.extract_lane 3 (local.get $t)) (i32.const 2))))
        (local.set $n1 (i32.add (i32.load offset=65536 (local.get $key)) (i32.const 1)))
        (i32.store offset=65536 (local.get $key) (local.get $n1))

        ;; statistics of lanes ($a1, $b1, $d1)
        (local.set $fin (f32x4.lt (f32x4.abs (local.get $d1)) (v128.const f32x4 inf inf inf inf)))
        (local.set $unchanged (i32x4.sub (local.get $unchanged) (f32x4.eq (local.get $a1) (local.get $b1))))
        (local.set $finite (i32x4.sub (local.get $finite) (local.get $fin)))
        (local.set $lo (v128.bitselect (local.get $d1) (v128.const f32x4 nan nan nan nan) (local.get $fin)))
        (local.set $min (f32x4.pmin (local.get $min) (local.get $lo)))
        (local.set $max (f32x4.pmax (local.get $max) (local.get $lo)))
        (local.set $t (v128.and (local.get $d1) (local.get $fin)))
        (local.set $lo (f64x2.promote_low_f32x4 (local.get $t)))
        (local.set $hi (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $t) (local.get $t))))
        (local.set $sumL (f64x2.add (local.get $sumL) (local.get $lo)))
        (local.set $sumH (f64x2.add (local.get $sumH) (local.get $hi)))
        (local.set $sqL (f64x2.add (local.get $sqL) (f64x2.mul (local.get $lo) (local.get $lo))))
        (local.set $sqH (f64x2.add (local.get $sqH) (f64x2.mul (local.get $hi) (local.get $hi))))
        (local.set $t (v128.and (local.get $a1) (local.get $fin)))
        (local.set $aL (f64x2.promote_low_f32x4 (local.get $t)))
        (local.set $aH (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $t) (local.get $t))))
        (local.set $t (v128.and (local.get $b1) (local.get $fin)))
        (local.set $lo (f64x2.promote_low_f32x4 (local.get $t)))
        (local.set $hi (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $t) (local.get $t))))
        (local.set $aaL (f64x2.add (local.get $aaL) (f64x2.mul (local.get $aL) (local.get $aL))))
        (local.set $aaH (f64x2.add (local.get $aaH) (f64x2.mul (local.get $aH) (local.get $aH))))
        (local.set $bbL (f64x2.add (local.get $bbL) (f64x2.mul (local.get $lo) (local.get $lo))))
        (local.set $bbH (f64x2.add (local.get $bbH) (f64x2.mul (local.get $hi) (local.get $hi))))
        (local.set $abL (f64x2.add (local.get $abL) (f64x2.mul (local.get $aL) (local.get $lo))))
        (local.set $abH (f64x2.add (local.get $abH) (f64x2.mul (local.get $aH) (local.get $hi))))
        (local.set $t (i32x4.shr_u (local.get $d1) (i32.const 16)))
        (local.set $key (i32.add (global.get $region) (i32.shl (i32x4.extract_lane 0 (local.get $t)) (i32.const 2))))
        (local.set $n1 (i32.add (i32.load offset=720896 (local.get $key)) (i32.const 1)))
        (i32.store offset=720896 (local.get $key) (local.get $n1))
        (local.set $key (i32.add (global.get $region) (i32.shl (i32x4.extract_lane 1 (local.get $t)) (i32.const 2))))
        (local.set $n1 (i32.add (i32.load offset=720896 (local.get $key)) (i32.const 1)))
        (i32.store offset=720896 (local.get $key) (local.get $n1))
        (local.set $key (i32.add (global.get $region) (i32.shl (i32x4.extract_lane 2 (local.get $t)) (i32.const 2))))
        (local.set $n1 (i32.add (i32.load offset=720896 (local.get $key)) (i32.const 1)))
        (i32.store offset=720896 (local.get $key) (local.get $n1))
        (local.set $key (i32.add (global.get $region) (i32.shl (i32x4.extract_lane 3 (local.get $t)) (i32.const 2))))
        (local.set $n1 (i32.add (i32.load offset=720896 (local.get $key)) (i32.const 1)))
        (i32.store offset=720896 (local.get $key) (local.get $n1))
      (local.set $a (i32.add (local.get $a) (i32.const 32)))
      (local.set $b (i32.add (local.get $b) (i32.const 32)))
      (local.set $out (i32.add (local.get $out) (i32.const 32)))
      (br $next)))
    (call $store_statistics (local.get $unchanged) (local.get $finite) (local.get $min) (local.get $max)
      (local.get $sumL) (local.get $sumH) (local.get $sqL) (local.get $sqH) (local.get $aaL) (local.get $aaH)
      (local.get $bbL) (local.get $bbH) (local.get $abL) (local.get $abH) (local.get $touched))
  )

  ;; out = c + r for binary32 c, r: addScaled with alpha 1.
  (func (export "add_f32") (param $c i32) (param $r i32) (param $out i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
      (v128.store offset=0 (local.get $out) (f32x4.add (v128.load offset=0 (local.get $c)) (v128.load offset=0 (local.get $r))))
      (v128.store offset=16 (local.get $out) (f32x4.add (v128.load offset=16 (local.get $c)) (v128.load offset=16 (local.get $r))))
      (local.set $c (i32.add (local.get $c) (i32.const 32)))
      (local.set $r (i32.add (local.get $r) (i32.const 32)))
      (local.set $out (i32.add (local.get $out) (i32.const 32)))
      (br $next))))

  ;; fma(r, alpha, c) for two binary32 lanes held as binary64: the product is exact in binary64, the sum
  ;; is rounded to odd (nudged one unit towards the exact value when inexact with an even last bit, the
  ;; error found with Knuth's TwoSum) so that the final rounding to binary32 is the only one that counts.
  ;; @inline
  (func $fma_f64x2 (param $c v128) (param $r v128) (param $alpha v128) (result v128)
    (local $p v128) (local $s v128) (local $y v128) (local $x v128) (local $err v128)
    (local.set $p (f64x2.mul (local.get $r) (local.get $alpha)))
    (local.set $s (f64x2.add (local.get $p) (local.get $c)))
    (local.set $y (f64x2.sub (local.get $s) (local.get $p)))
    (local.set $x (f64x2.sub (local.get $s) (local.get $y)))
    (local.set $err (f64x2.add (f64x2.sub (local.get $p) (local.get $x)) (f64x2.sub (local.get $c) (local.get $y))))
    ;; Nudge where the error is non-zero and not NaN (abs > 0 is false for NaN) and the last bit is even;
    ;; the direction is +1 when error and sum share a sign (away from zero), else -1.
    (i64x2.add (local.get $s) (v128.and
      (v128.or (i64x2.shr_s (v128.xor (local.get $s) (local.get $err)) (i32.const 63)) (v128.const i64x2 1 1))
      (v128.and (f64x2.gt (f64x2.abs (local.get $err)) (v128.const f64x2 0 0))
                (i64x2.eq (v128.and (local.get $s) (v128.const i64x2 1 1)) (v128.const i64x2 0 0))))))

  ;; out = f32(c + alpha * r) with one rounding (a fused multiply-add) for binary32 c, r.
  (func (export "fma_f32") (param $c i32) (param $r i32) (param $alpha f32) (param $out i32) (param $n i32)
    (local $end i32) (local $va v128) (local $vc v128) (local $vr v128)
    (local.set $va (f64x2.splat (f64.promote_f32 (local.get $alpha))))
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
      (local.set $vc (v128.load offset=0 (local.get $c)))
      (local.set $vr (v128.load offset=0 (local.get $r)))
      (v128.store offset=0 (local.get $out) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
        (f32x4.demote_f64x2_zero (call $fma_f64x2 (f64x2.promote_low_f32x4 (local.get $vc))
                                                   (f64x2.promote_low_f32x4 (local.get $vr)) (local.get $va)))
        (f32x4.demote_f64x2_zero (call $fma_f64x2
          (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $vc) (local.get $vc)))
          (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $vr) (local.get $vr)))
          (local.get $va)))))
      (local.set $vc (v128.load offset=16 (local.get $c)))
      (local.set $vr (v128.load offset=16 (local.get $r)))
      (v128.store offset=16 (local.get $out) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
        (f32x4.demote_f64x2_zero (call $fma_f64x2 (f64x2.promote_low_f32x4 (local.get $vc))
                                                   (f64x2.promote_low_f32x4 (local.get $vr)) (local.get $va)))
        (f32x4.demote_f64x2_zero (call $fma_f64x2
          (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $vc) (local.get $vc)))
          (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $vr) (local.get $vr)))
          (local.get $va)))))
      (local.set $c (i32.add (local.get $c) (i32.const 32)))
      (local.set $r (i32.add (local.get $r) (i32.const 32)))
      (local.set $out (i32.add (local.get $out) (i32.const 32)))
      (br $next))))

  ;; dst (binary32) = src (bfloat16), exact.
  (func (export "widen_bf16") (param $src i32) (param $dst i32) (param $n i32)
    (local $end i32) (local $v v128)
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
      (local.set $v (v128.load (local.get $src)))
      (v128.store offset=0 (local.get $dst)
        (i8x16.shuffle 16 16 0 1 16 16 2 3 16 16 4 5 16 16 6 7 (local.get $v) (v128.const i32x4 0 0 0 0)))
      (v128.store offset=16 (local.get $dst)
        (i8x16.shuffle 16 16 8 9 16 16 10 11 16 16 12 13 16 16 14 15 (local.get $v) (v128.const i32x4 0 0 0 0)))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
      (br $next))))

  ;; dst (binary32) = src (binary16), exact.
  (func (export "widen_f16") (param $src i32) (param $dst i32) (param $n i32)
    (local $end i32) (local $v v128)
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
      (local.set $v (v128.load (local.get $src)))
      (v128.store offset=0 (local.get $dst) (call $f16_upper_to_f32
        (i8x16.shuffle 16 16 0 1 16 16 2 3 16 16 4 5 16 16 6 7 (local.get $v) (v128.const i32x4 0 0 0 0))))
      (v128.store offset=16 (local.get $dst) (call $f16_upper_to_f32
        (i8x16.shuffle 16 16 8 9 16 16 10 11 16 16 12 13 16 16 14 15 (local.get $v) (v128.const i32x4 0 0 0 0))))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
      (br $next))))

  ;; Rounds binary32 lanes to bfloat16 in their upper halves; NaN becomes quiet with its payload's top bits.
  ;; @inline
  (func $f32_to_bf16_upper (param $x v128) (result v128)
    (v128.bitselect
      (v128.or (local.get $x) (v128.const i32x4 0x00400000 0x00400000 0x00400000 0x00400000))
      (i32x4.add (i32x4.add (local.get $x) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff))
                 (v128.and (i32x4.shr_u (local.get $x) (i32.const 16)) (v128.const i32x4 1 1 1 1)))
      (f32x4.ne (local.get $x) (local.get $x))))

  ;; dst (bfloat16) = src (binary32), nearest, ties to even.
  (func (export "narrow_bf16") (param $src i32) (param $dst i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 1))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
      (v128.store (local.get $dst) (i8x16.shuffle 2 3 6 7 10 11 14 15 18 19 22 23 26 27 30 31
        (call $f32_to_bf16_upper (v128.load offset=0 (local.get $src)))
        (call $f32_to_bf16_upper (v128.load offset=16 (local.get $src)))))
      (local.set $src (i32.add (local.get $src) (i32.const 32)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (br $next))))

  ;; dst (binary16) = src (binary32), nearest, ties to even.
  (func (export "narrow_f16") (param $src i32) (param $dst i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 1))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
      (v128.store (local.get $dst) (i16x8.narrow_i32x4_u
        (call $f32_to_f16_low (v128.load offset=0 (local.get $src)))
        (call $f32_to_f16_low (v128.load offset=16 (local.get $src)))))
      (local.set $src (i32.add (local.get $src) (i32.const 32)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (br $next))))

  ;; dst (binary32) = src (binary64), nearest, ties to even.
  (func (export "demote_f64") (param $src i32) (param $dst i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
      (v128.store offset=0 (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
        (f32x4.demote_f64x2_zero (v128.load offset=0 (local.get $src)))
        (f32x4.demote_f64x2_zero (v128.load offset=16 (local.get $src)))))
      (v128.store offset=16 (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
        (f32x4.demote_f64x2_zero (v128.load offset=32 (local.get $src)))
        (f32x4.demote_f64x2_zero (v128.load offset=48 (local.get $src)))))
      (local.set $src (i32.add (local.get $src) (i32.const 64)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
      (br $next))))

  ;; dst (binary64) = src (binary32), exact.
  (func (export "promote_f32") (param $src i32) (param $dst i32) (param $n i32)
    (local $end i32) (local $v v128)
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 3))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
      (local.set $v (v128.load offset=0 (local.get $src)))
      (v128.store offset=0 (local.get $dst) (f64x2.promote_low_f32x4 (local.get $v)))
      (v128.store offset=16 (local.get $dst) (f64x2.promote_low_f32x4
        (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v))))
      (local.set $v (v128.load offset=16 (local.get $src)))
      (v128.store offset=32 (local.get $dst) (f64x2.promote_low_f32x4 (local.get $v)))
      (v128.store offset=48 (local.get $dst) (f64x2.promote_low_f32x4
        (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v))))
      (local.set $src (i32.add (local.get $src) (i32.const 32)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 64)))
      (br $next))))

  ;; Compares binary32 lanes x, y: counts bit-identical lanes, lanes that differ only in the sign of zero
  ;; (equal as numbers, different bits), and pairs where a non-finite value is not matched (NaN against NaN
  ;; of any payload counts as matched), and keeps the largest |x - y| in binary64 over pairs that are both
  ;; finite. The four results are added into the statistics block.
  (func (export "compare_f32") (param $x i32) (param $y i32) (param $n i32)
    (local $end i32) (local $vx v128) (local $vy v128) (local $both v128) (local $same v128)
    (local $identical v128) (local $signedZero v128) (local $mismatch v128) (local $max v128) (local $d v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
      (local.set $vx (v128.load (local.get $x)))
      (local.set $vy (v128.load (local.get $y)))
      (local.set $same (i32x4.eq (local.get $vx) (local.get $vy)))
      (local.set $identical (i32x4.sub (local.get $identical) (local.get $same)))
      (local.set $signedZero (i32x4.sub (local.get $signedZero)
        (v128.andnot (f32x4.eq (local.get $vx) (local.get $vy)) (local.get $same))))
      (local.set $both (v128.and (f32x4.lt (f32x4.abs (local.get $vx)) (v128.const f32x4 inf inf inf inf))
                                 (f32x4.lt (f32x4.abs (local.get $vy)) (v128.const f32x4 inf inf inf inf))))
      (local.set $mismatch (i32x4.sub (local.get $mismatch)
        (v128.andnot (v128.andnot (v128.not (local.get $both)) (local.get $same))
                     (v128.and (f32x4.ne (local.get $vx) (local.get $vx)) (f32x4.ne (local.get $vy) (local.get $vy))))))
      (local.set $vx (v128.and (local.get $vx) (local.get $both)))
      (local.set $vy (v128.and (local.get $vy) (local.get $both)))
      (local.set $d (f64x2.abs (f64x2.sub (f64x2.promote_low_f32x4 (local.get $vx)) (f64x2.promote_low_f32x4 (local.get $vy)))))
      (local.set $max (f64x2.max (local.get $max) (local.get $d)))
      (local.set $d (f64x2.abs (f64x2.sub
        (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $vx) (local.get $vx)))
        (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $vy) (local.get $vy))))))
      (local.set $max (f64x2.max (local.get $max) (local.get $d)))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $y (i32.add (local.get $y) (i32.const 16)))
      (br $next)))
    (call $store_comparison (local.get $identical) (local.get $signedZero) (local.get $mismatch) (local.get $max)))

  ;; compare_f32 for bfloat16 x, y without widening them into scratch first: each half of the lanes is
  ;; widened in registers (the widened bits are equal exactly when the bfloat16 bits are).
  (func (export "compare_bf16") (param $x i32) (param $y i32) (param $n i32)
    (local $end i32) (local $wx v128) (local $wy v128) (local $vx v128) (local $vy v128) (local $both v128) (local $same v128)
    (local $identical v128) (local $signedZero v128) (local $mismatch v128) (local $max v128) (local $sameGroups i32)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 1))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
      (local.set $wx (v128.load (local.get $x)))
      (local.set $wy (v128.load (local.get $y)))
      ;; A verify that succeeds finds every group of 8 identical: count it and skip the arithmetic.
      (if (i16x8.all_true (i16x8.eq (local.get $wx) (local.get $wy))) (then
        (local.set $sameGroups (i32.add (local.get $sameGroups) (i32.const 1)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (br $next)))
      (local.set $vx (i32x4.shl (local.get $wx) (i32.const 16)))
      (local.set $vy (i32x4.shl (local.get $wy) (i32.const 16)))
      (local.set $same (i32x4.eq (local.get $vx) (local.get $vy)))
      (local.set $identical (i32x4.sub (local.get $identical) (local.get $same)))
      (local.set $signedZero (i32x4.sub (local.get $signedZero)
        (v128.andnot (f32x4.eq (local.get $vx) (local.get $vy)) (local.get $same))))
      (local.set $both (v128.and (f32x4.lt (f32x4.abs (local.get $vx)) (v128.const f32x4 inf inf inf inf))
                                 (f32x4.lt (f32x4.abs (local.get $vy)) (v128.const f32x4 inf inf inf inf))))
      (local.set $mismatch (i32x4.sub (local.get $mismatch)
        (v128.andnot (v128.andnot (v128.not (local.get $both)) (local.get $same))
                     (v128.and (f32x4.ne (local.get $vx) (local.get $vx)) (f32x4.ne (local.get $vy) (local.get $vy))))))
      (local.set $vx (v128.and (local.get $vx) (local.get $both)))
      (local.set $vy (v128.and (local.get $vy) (local.get $both)))
      (local.set $max (f64x2.max (local.get $max) (f64x2.abs (f64x2.sub (f64x2.promote_low_f32x4 (local.get $vx)) (f64x2.promote_low_f32x4 (local.get $vy))))))
      (local.set $max (f64x2.max (local.get $max) (f64x2.abs (f64x2.sub
        (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $vx) (local.get $vx)))
        (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $vy) (local.get $vy)))))))
      (local.set $vx (v128.and (local.get $wx) (v128.const i32x4 0xffff0000 0xffff0000 0xffff0000 0xffff0000)))
      (local.set $vy (v128.and (local.get $wy) (v128.const i32x4 0xffff0000 0xffff0000 0xffff0000 0xffff0000)))
      (local.set $same (i32x4.eq (local.get $vx) (local.get $vy)))
      (local.set $identical (i32x4.sub (local.get $identical) (local.get $same)))
      (local.set $signedZero (i32x4.sub (local.get $signedZero)
        (v128.andnot (f32x4.eq (local.get $vx) (local.get $vy)) (local.get $same))))
      (local.set $both (v128.and (f32x4.lt (f32x4.abs (local.get $vx)) (v128.const f32x4 inf inf inf inf))
                                 (f32x4.lt (f32x4.abs (local.get $vy)) (v128.const f32x4 inf inf inf inf))))
      (local.set $mismatch (i32x4.sub (local.get $mismatch)
        (v128.andnot (v128.andnot (v128.not (local.get $both)) (local.get $same))
                     (v128.and (f32x4.ne (local.get $vx) (local.get $vx)) (f32x4.ne (local.get $vy) (local.get $vy))))))
      (local.set $vx (v128.and (local.get $vx) (local.get $both)))
      (local.set $vy (v128.and (local.get $vy) (local.get $both)))
      (local.set $max (f64x2.max (local.get $max) (f64x2.abs (f64x2.sub (f64x2.promote_low_f32x4 (local.get $vx)) (f64x2.promote_low_f32x4 (local.get $vy))))))
      (local.set $max (f64x2.max (local.get $max) (f64x2.abs (f64x2.sub
        (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $vx) (local.get $vx)))
        (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $vy) (local.get $vy)))))))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $y (i32.add (local.get $y) (i32.const 16)))
      (br $next)))
    (call $store_comparison
      (i32x4.add (local.get $identical) (i32x4.replace_lane 0 (v128.const i32x4 0 0 0 0) (i32.shl (local.get $sameGroups) (i32.const 3))))
      (local.get $signedZero) (local.get $mismatch) (local.get $max)))

  ;; Adds the lane accumulators of one compare call into the statistics block.
  (func $store_comparison (param $identical v128) (param $signedZero v128) (param $mismatch v128) (param $max v128)
    (f64.store offset=0 (global.get $region) (f64.max (f64.load offset=0 (global.get $region))
      (f64.max (f64x2.extract_lane 0 (local.get $max)) (f64x2.extract_lane 1 (local.get $max)))))
    (i32.store offset=48 (global.get $region) (i32.add (i32.load offset=48 (global.get $region))
      (i32.add (i32.add (i32x4.extract_lane 0 (local.get $identical)) (i32x4.extract_lane 1 (local.get $identical)))
               (i32.add (i32x4.extract_lane 2 (local.get $identical)) (i32x4.extract_lane 3 (local.get $identical))))))
    (i32.store offset=52 (global.get $region) (i32.add (i32.load offset=52 (global.get $region))
      (i32.add (i32.add (i32x4.extract_lane 0 (local.get $mismatch)) (i32x4.extract_lane 1 (local.get $mismatch)))
               (i32.add (i32x4.extract_lane 2 (local.get $mismatch)) (i32x4.extract_lane 3 (local.get $mismatch))))))
    (i32.store offset=56 (global.get $region) (i32.add (i32.load offset=56 (global.get $region))
      (i32.add (i32.add (i32x4.extract_lane 0 (local.get $signedZero)) (i32x4.extract_lane 1 (local.get $signedZero)))
               (i32.add (i32x4.extract_lane 2 (local.get $signedZero)) (i32x4.extract_lane 3 (local.get $signedZero)))))))
  ;; Whether any of $n 16-bit lanes (a multiple of 8) at $src has every bit of $mask set: the exponent of a
  ;; bfloat16 (0x7f80) or binary16 (0x7c00) infinity or NaN. Apply's guard against results that overflow.
  (func (export "any_non_finite_16") (param $src i32) (param $n i32) (param $mask i32) (result i32)
    (local $end i32) (local $m v128) (local $hit v128)
    (local.set $m (i16x8.splat (local.get $mask)))
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 1))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
      (local.set $hit (v128.or (local.get $hit)
        (i16x8.eq (v128.and (v128.load (local.get $src)) (local.get $m)) (local.get $m))))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (br $next)))
    (v128.any_true (local.get $hit)))

  ;; any_non_finite_16 for binary32 lanes ($n a multiple of 8).
  (func (export "any_non_finite_32") (param $src i32) (param $n i32)
    (result i32)
    (local $end i32) (local $m v128) (local $hit v128)
    (local.set $m (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
      (local.set $hit (v128.or (local.get $hit)
        (i32x4.eq (v128.and (v128.load (local.get $src)) (local.get $m)) (local.get $m))))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (br $next)))
    (v128.any_true (local.get $hit)))

  ;; ---- FP8 (docs/fp8.md) -------------------------------------------------------------------------------------------
  ;; FP8 bytes are decoded from the top byte of each i32 lane (`byte << 24`: interleaves with zero, which every local
  ;; v128 starts as, put 16 bytes into four such vectors). Decoding is exact and uses no subnormal binary32 operand
  ;; (those cost microcode assists on some cores): normals are rebiased with an integer add; subnormals get an
  ;; implicit bit that binary32 subtracts again (Giesen's magic-number method). Each
  ;; value is then one binary32 product with its scale. An FP8 NaN gives the quiet NaN 0x7fc00000 with its sign, chosen
  ;; after the product, so its bits do not depend on the scale or on how the engine propagates NaN.

  ;; E4M3 (fn) bytes in the top bytes of the lanes of $x, decoded and times $scale.
  ;; @inline
  (func $e4m3_top_scaled (param $x v128) (param $scale v128) (result v128)
    (local $sign v128) (local $v v128)
    (local.set $sign (v128.and (local.get $x) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000)))
    ;; Exponent and mantissa as binary32 fields, before the rebias: (byte & 0x7f) << 20.
    (local.set $v (i32x4.shr_u (v128.xor (local.get $x) (local.get $sign)) (i32.const 4)))
    (v128.bitselect
      (v128.or (local.get $sign) (v128.const i32x4 0x7fc00000 0x7fc00000 0x7fc00000 0x7fc00000))
      (f32x4.mul
        (v128.or (local.get $sign) (v128.bitselect
          ;; m * 2^-9 = (2^-6 + m * 2^-9) - 2^-6, exact.
          (f32x4.sub (i32x4.add (local.get $v) (v128.const i32x4 0x3c800000 0x3c800000 0x3c800000 0x3c800000))
                     (v128.const f32x4 0.015625 0.015625 0.015625 0.015625))
          (i32x4.add (local.get $v) (v128.const i32x4 0x3c000000 0x3c000000 0x3c000000 0x3c000000))
          (i32x4.lt_s (local.get $v) (v128.const i32x4 0x00800000 0x00800000 0x00800000 0x00800000))))
        (local.get $scale))
      (i32x4.eq (local.get $v) (v128.const i32x4 0x07f00000 0x07f00000 0x07f00000 0x07f00000))))

  ;; E5M2 bytes in the top bytes of the lanes of $x (the top bytes of binary16 values), decoded and times $scale.
  ;; @inline
  (func $e5m2_top_scaled (param $x v128) (param $scale v128) (result v128)
    (local $sign v128) (local $v v128)
    (local.set $sign (v128.and (local.get $x) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000)))
    ;; Exponent and mantissa as binary32 fields, before the rebias: (byte & 0x7f) << 21.
    (local.set $v (i32x4.shr_u (v128.xor (local.get $x) (local.get $sign)) (i32.const 3)))
    (v128.bitselect
      (v128.or (local.get $sign) (v128.const i32x4 0x7fc00000 0x7fc00000 0x7fc00000 0x7fc00000))
      (f32x4.mul
        (v128.or (local.get $sign) (v128.bitselect
          (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000)
          (v128.bitselect
            ;; m * 2^-16 = (2^-14 + m * 2^-16) - 2^-14, exact.
            (f32x4.sub (i32x4.add (local.get $v) (v128.const i32x4 0x38800000 0x38800000 0x38800000 0x38800000))
                       (v128.const f32x4 0.00006103515625 0.00006103515625 0.00006103515625 0.00006103515625))
            (i32x4.add (local.get $v) (v128.const i32x4 0x38000000 0x38000000 0x38000000 0x38000000))
            (i32x4.lt_s (local.get $v) (v128.const i32x4 0x00800000 0x00800000 0x00800000 0x00800000)))
          (i32x4.eq (local.get $v) (v128.const i32x4 0x0f800000 0x0f800000 0x0f800000 0x0f800000))))
        (local.get $scale))
      (i32x4.gt_s (local.get $v) (v128.const i32x4 0x0f800000 0x0f800000 0x0f800000 0x0f800000))))

  ;; dst (binary32) = fp8(src) * scale for $n elements ($n any count: the last n % 16 one at a time, through the same
  ;; vector code). $format: 0 for E4M3, 1 for E5M2. The regions must not overlap.
  ;;
  ;; Groups of 16 bytes without a special byte (exponent 0, which includes zero, or the top exponent: NaN, infinity)
  ;; take a short path: `byte << 24` shifted right arithmetically and masked is sign | exponent and mantissa as binary32
  ;; fields, the rebias is one integer add, and the product follows (4 instructions for 4 values instead of 17). In the
  ;; weights of a block-quantized checkpoint such bytes are rare (below 2^-6 of 448 times the block's largest
  ;; magnitude); the other groups go through the full decoding, which gives the same bits for the normal values.
  ;; Constants live in locals: V8 rebuilds a v128.const inside a loop at every use.
  (func $dequant_fp8_run (export "dequant_fp8") (param $src i32) (param $dst i32) (param $n i32) (param $scale f32) (param $format i32)
    (local $end i32) (local $last i32) (local $s v128) (local $b v128) (local $lo v128) (local $hi v128) (local $zero v128)
    (local $fieldMask v128) (local $rebias v128) (local $low7 v128) (local $specialStart v128) (local $specialLimit v128)
    (local.set $s (f32x4.splat (local.get $scale)))
    (local.set $low7 (i8x16.splat (i32.const 0x7f)))
    (local.set $end (i32.add (local.get $src) (local.get $n)))
    (local.set $last (i32.sub (local.get $end) (i32.and (local.get $n) (i32.const 15))))
    (if (i32.eqz (local.get $format))
      (then
        ;; E4M3: special where (byte & 0x7f) - 8 wraps above 0x76 (exponent 0, or 0x7f: NaN).
        (local.set $fieldMask (v128.const i32x4 0x87f00000 0x87f00000 0x87f00000 0x87f00000))
        (local.set $rebias (v128.const i32x4 0x3c000000 0x3c000000 0x3c000000 0x3c000000))
        (local.set $specialStart (i8x16.splat (i32.const 8)))
        (local.set $specialLimit (i8x16.splat (i32.const 118)))
        (block $done (loop $next
          (br_if $done (i32.ge_u (local.get $src) (local.get $last)))
          (local.set $b (v128.load (local.get $src)))
          ;; Bytes 0-7 and 8-15 in the high bytes of 16-bit lanes, then each in the top byte of a 32-bit lane: four
          ;; interleaves with zero, one instruction each.
          (local.set $lo (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $zero) (local.get $b)))
          (local.set $hi (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $zero) (local.get $b)))
          (if (v128.any_true (i8x16.gt_u (i8x16.sub (v128.and (local.get $b) (local.get $low7)) (local.get $specialStart))
                                         (local.get $specialLimit)))
            (then
              (v128.store offset=0 (local.get $dst) (call $e4m3_top_scaled
                (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $zero) (local.get $lo)) (local.get $s)))
              (v128.store offset=16 (local.get $dst) (call $e4m3_top_scaled
                (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $zero) (local.get $lo)) (local.get $s)))
              (v128.store offset=32 (local.get $dst) (call $e4m3_top_scaled
                (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $zero) (local.get $hi)) (local.get $s)))
              (v128.store offset=48 (local.get $dst) (call $e4m3_top_scaled
                (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $zero) (local.get $hi)) (local.get $s))))
            (else
              (v128.store offset=0 (local.get $dst) (f32x4.mul (i32x4.add (v128.and
                (i32x4.shr_s (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $zero) (local.get $lo)) (i32.const 4))
                (local.get $fieldMask)) (local.get $rebias)) (local.get $s)))
              (v128.store offset=16 (local.get $dst) (f32x4.mul (i32x4.add (v128.and
                (i32x4.shr_s (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $zero) (local.get $lo)) (i32.const 4))
                (local.get $fieldMask)) (local.get $rebias)) (local.get $s)))
              (v128.store offset=32 (local.get $dst) (f32x4.mul (i32x4.add (v128.and
                (i32x4.shr_s (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $zero) (local.get $hi)) (i32.const 4))
                (local.get $fieldMask)) (local.get $rebias)) (local.get $s)))
              (v128.store offset=48 (local.get $dst) (f32x4.mul (i32x4.add (v128.and
                (i32x4.shr_s (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $zero) (local.get $hi)) (i32.const 4))
                (local.get $fieldMask)) (local.get $rebias)) (local.get $s)))))
          (local.set $src (i32.add (local.get $src) (i32.const 16)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 64)))
          (br $next)))
        (block $done (loop $next
          (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
          (f32.store (local.get $dst) (f32x4.extract_lane 0 (call $e4m3_top_scaled
            (i32x4.splat (i32.shl (i32.load8_u (local.get $src)) (i32.const 24))) (local.get $s))))
          (local.set $src (i32.add (local.get $src) (i32.const 1)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
          (br $next))))
      (else
        ;; E5M2: special where (byte & 0x7f) - 4 wraps above 0x77 (exponent 0, or 31: infinity, NaN).
        (local.set $fieldMask (v128.const i32x4 0x8fe00000 0x8fe00000 0x8fe00000 0x8fe00000))
        (local.set $rebias (v128.const i32x4 0x38000000 0x38000000 0x38000000 0x38000000))
        (local.set $specialStart (i8x16.splat (i32.const 4)))
        (local.set $specialLimit (i8x16.splat (i32.const 119)))
        (block $done (loop $next
          (br_if $done (i32.ge_u (local.get $src) (local.get $last)))
          (local.set $b (v128.load (local.get $src)))
          ;; Bytes 0-7 and 8-15 in the high bytes of 16-bit lanes, then each in the top byte of a 32-bit lane: four
          ;; interleaves with zero, one instruction each.
          (local.set $lo (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $zero) (local.get $b)))
          (local.set $hi (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $zero) (local.get $b)))
          (if (v128.any_true (i8x16.gt_u (i8x16.sub (v128.and (local.get $b) (local.get $low7)) (local.get $specialStart))
                                         (local.get $specialLimit)))
            (then
              (v128.store offset=0 (local.get $dst) (call $e5m2_top_scaled
                (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $zero) (local.get $lo)) (local.get $s)))
              (v128.store offset=16 (local.get $dst) (call $e5m2_top_scaled
                (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $zero) (local.get $lo)) (local.get $s)))
              (v128.store offset=32 (local.get $dst) (call $e5m2_top_scaled
                (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $zero) (local.get $hi)) (local.get $s)))
              (v128.store offset=48 (local.get $dst) (call $e5m2_top_scaled
                (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $zero) (local.get $hi)) (local.get $s))))
            (else
              (v128.store offset=0 (local.get $dst) (f32x4.mul (i32x4.add (v128.and
                (i32x4.shr_s (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $zero) (local.get $lo)) (i32.const 3))
                (local.get $fieldMask)) (local.get $rebias)) (local.get $s)))
              (v128.store offset=16 (local.get $dst) (f32x4.mul (i32x4.add (v128.and
                (i32x4.shr_s (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $zero) (local.get $lo)) (i32.const 3))
                (local.get $fieldMask)) (local.get $rebias)) (local.get $s)))
              (v128.store offset=32 (local.get $dst) (f32x4.mul (i32x4.add (v128.and
                (i32x4.shr_s (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $zero) (local.get $hi)) (i32.const 3))
                (local.get $fieldMask)) (local.get $rebias)) (local.get $s)))
              (v128.store offset=48 (local.get $dst) (f32x4.mul (i32x4.add (v128.and
                (i32x4.shr_s (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $zero) (local.get $hi)) (i32.const 3))
                (local.get $fieldMask)) (local.get $rebias)) (local.get $s)))))
          (local.set $src (i32.add (local.get $src) (i32.const 16)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 64)))
          (br $next)))
        (block $done (loop $next
          (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
          (f32.store (local.get $dst) (f32x4.extract_lane 0 (call $e5m2_top_scaled
            (i32x4.splat (i32.shl (i32.load8_u (local.get $src)) (i32.const 24))) (local.get $s))))
          (local.set $src (i32.add (local.get $src) (i32.const 1)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
          (br $next))))))

  ;; dequant_fp8 of $n elements of a row-major matrix of $columns columns, starting at row $row and column $col, each
  ;; times the binary32 scale of its block: blocks of $blockRows x $blockColumns, their scales row-major at $scales,
  ;; $scaleColumns a row. Runs of a row inside one block share a scale and go to dequant_fp8 together.
  (func (export "dequant_fp8_blocks")
    (param $src i32) (param $dst i32) (param $n i32) (param $row i32) (param $col i32) (param $columns i32)
    (param $scales i32) (param $scaleColumns i32) (param $blockRows i32) (param $blockColumns i32) (param $format i32)
    (local $blockCol i32) (local $inBlock i32) (local $scaleRow i32) (local $length i32)
    (local.set $blockCol (i32.div_u (local.get $col) (local.get $blockColumns)))
    (local.set $inBlock (i32.sub (local.get $col) (i32.mul (local.get $blockCol) (local.get $blockColumns))))
    (local.set $scaleRow (i32.add (local.get $scales) (i32.shl (i32.mul (i32.div_u (local.get $row) (local.get $blockRows))
      (local.get $scaleColumns)) (i32.const 2))))
    (block $done (loop $next
      (br_if $done (i32.eqz (local.get $n)))
      ;; The run ends at the block's last column, the row's last column or the last element, whichever comes first.
      (local.set $length (i32.sub (local.get $blockColumns) (local.get $inBlock)))
      (local.set $length (select (local.get $length) (i32.sub (local.get $columns) (local.get $col))
        (i32.lt_u (local.get $length) (i32.sub (local.get $columns) (local.get $col)))))
      (local.set $length (select (local.get $length) (local.get $n) (i32.lt_u (local.get $length) (local.get $n))))
      (call $dequant_fp8_run (local.get $src) (local.get $dst) (local.get $length)
        (f32.load (i32.add (local.get $scaleRow) (i32.shl (local.get $blockCol) (i32.const 2)))) (local.get $format))
      (local.set $src (i32.add (local.get $src) (local.get $length)))
      (local.set $dst (i32.add (local.get $dst) (i32.shl (local.get $length) (i32.const 2))))
      (local.set $n (i32.sub (local.get $n) (local.get $length)))
      (local.set $col (i32.add (local.get $col) (local.get $length)))
      (local.set $inBlock (i32.add (local.get $inBlock) (local.get $length)))
      (if (i32.eq (local.get $inBlock) (local.get $blockColumns)) (then
        (local.set $inBlock (i32.const 0))
        (local.set $blockCol (i32.add (local.get $blockCol) (i32.const 1)))))
      (if (i32.eq (local.get $col) (local.get $columns)) (then
        (local.set $col (i32.const 0))
        (local.set $inBlock (i32.const 0))
        (local.set $blockCol (i32.const 0))
        (local.set $row (i32.add (local.get $row) (i32.const 1)))
        (local.set $scaleRow (i32.add (local.get $scales) (i32.shl (i32.mul (i32.div_u (local.get $row) (local.get $blockRows))
          (local.get $scaleColumns)) (i32.const 2))))))
      (br $next))))

  ;; E4M3 bytes (in the low bytes of the lanes) of |x| / $scale, rounded to nearest, ties to even, saturating at 448,
  ;; with the sign of x: the sign is taken from x rather than from the quotient, whose sign is unspecified when it is
  ;; NaN. The quotient q is clamped to 448 (pmin keeps NaN), then two codes are computed and the smaller kept:
  ;; - the normal code: q (raised to 2^-6 at least) rebiased to E4M3's exponent, its 20 dropped mantissa bits rounded
  ;;   with an integer add (a carry moves to the next binade);
  ;; - the subnormal code: q + 2^14 in binary32 has steps of 2^-9, E4M3's subnormal step, so the FPU rounds (ties to
  ;;   even) and the low bits count the steps.
  ;; Below 2^-6 the normal code is 8 and the subnormal one at most 8; from 2^-6 to 2^-5 both step by 2^-9 and agree;
  ;; above, the subnormal code grows faster. A NaN gives a large normal code, cut to 0x7f. The constants come in as
  ;; parameters from locals of the caller, since V8 rebuilds a v128.const inside a loop at every use:
  ;; $k (i32x4 0x7fffffff), $max (f32x4 448), $minNormal (i32x4 0x3c800000), $rebias (i32x4 0x3c000000),
  ;; $half (i32x4 0x7ffff), $one (i32x4 1), $magic (f32x4 16384, whose bits are 0x46800000), $nan (i32x4 0x7f).
  ;; @inline
  (func $f32_to_e4m3_scaled (param $x v128) (param $scale v128) (param $k v128) (param $max v128) (param $minNormal v128)
    (param $rebias v128) (param $half v128) (param $one v128) (param $magic v128) (param $nan v128) (result v128)
    (local $q v128) (local $r v128)
    (local.set $q (f32x4.pmin (v128.and (f32x4.div (v128.and (local.get $x) (local.get $k)) (local.get $scale)) (local.get $k))
                              (local.get $max)))
    (local.set $r (i32x4.sub (i32x4.max_s (local.get $q) (local.get $minNormal)) (local.get $rebias)))
    (local.set $r (i32x4.shr_u (i32x4.add (i32x4.add (local.get $r) (local.get $half))
                                          (v128.and (i32x4.shr_u (local.get $r) (i32.const 20)) (local.get $one)))
                               (i32.const 20)))
    (v128.or
      (i32x4.min_u (i32x4.min_u (local.get $r) (i32x4.sub (f32x4.add (local.get $q) (local.get $magic)) (local.get $magic)))
                   (local.get $nan))
      (i32x4.shl (i32x4.shr_u (local.get $x) (i32.const 31)) (i32.const 7))))

  ;; dst (E4M3) = x / scale for $n binary32 x at $src (any count: the last n % 16 one at a time).
  (func $quantize_e4m3_run (param $src i32) (param $dst i32) (param $n i32) (param $scale f32)
    (local $end i32) (local $last i32) (local $s v128)
    (local $k v128) (local $max v128) (local $minNormal v128) (local $rebias v128) (local $half v128) (local $one v128)
    (local $magic v128) (local $nan v128)
    (local.set $s (f32x4.splat (local.get $scale)))
    (local.set $k (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))
    (local.set $max (v128.const f32x4 448 448 448 448))
    (local.set $minNormal (v128.const i32x4 0x3c800000 0x3c800000 0x3c800000 0x3c800000))
    (local.set $rebias (v128.const i32x4 0x3c000000 0x3c000000 0x3c000000 0x3c000000))
    (local.set $half (v128.const i32x4 0x7ffff 0x7ffff 0x7ffff 0x7ffff))
    (local.set $one (v128.const i32x4 1 1 1 1))
    (local.set $magic (v128.const f32x4 16384 16384 16384 16384))
    (local.set $nan (v128.const i32x4 0x7f 0x7f 0x7f 0x7f))
    (local.set $end (i32.add (local.get $dst) (local.get $n)))
    (local.set $last (i32.sub (local.get $end) (i32.and (local.get $n) (i32.const 15))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $dst) (local.get $last)))
      (v128.store (local.get $dst) (i8x16.narrow_i16x8_u
        (i16x8.narrow_i32x4_u
          (call $f32_to_e4m3_scaled (v128.load offset=0 (local.get $src)) (local.get $s) (local.get $k) (local.get $max)
            (local.get $minNormal) (local.get $rebias) (local.get $half) (local.get $one) (local.get $magic) (local.get $nan))
          (call $f32_to_e4m3_scaled (v128.load offset=16 (local.get $src)) (local.get $s) (local.get $k) (local.get $max)
            (local.get $minNormal) (local.get $rebias) (local.get $half) (local.get $one) (local.get $magic) (local.get $nan)))
        (i16x8.narrow_i32x4_u
          (call $f32_to_e4m3_scaled (v128.load offset=32 (local.get $src)) (local.get $s) (local.get $k) (local.get $max)
            (local.get $minNormal) (local.get $rebias) (local.get $half) (local.get $one) (local.get $magic) (local.get $nan))
          (call $f32_to_e4m3_scaled (v128.load offset=48 (local.get $src)) (local.get $s) (local.get $k) (local.get $max)
            (local.get $minNormal) (local.get $rebias) (local.get $half) (local.get $one) (local.get $magic) (local.get $nan)))))
      (local.set $src (i32.add (local.get $src) (i32.const 64)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (br $next)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
      (i32.store8 (local.get $dst) (i32x4.extract_lane 0 (call $f32_to_e4m3_scaled
        (v128.load32_splat (local.get $src)) (local.get $s) (local.get $k) (local.get $max)
        (local.get $minNormal) (local.get $rebias) (local.get $half) (local.get $one) (local.get $magic) (local.get $nan))))
      (local.set $src (i32.add (local.get $src) (i32.const 4)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
      (br $next))))

  ;; The largest |x| of $n binary32 values at $src as bits (|x| orders as an unsigned integer, NaN above infinity),
  ;; folded into the u32 at $into with an unsigned maximum.
  (func $abs_max_bits_run (param $src i32) (param $n i32) (param $into i32)
    (local $end i32) (local $last i32) (local $m v128) (local $max i32)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $last (i32.sub (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 7)) (i32.const 2))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $src) (local.get $last)))
      (local.set $m (i32x4.max_u (local.get $m) (i32x4.max_u
        (v128.and (v128.load offset=0 (local.get $src)) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))
        (v128.and (v128.load offset=16 (local.get $src)) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)))))
      (local.set $src (i32.add (local.get $src) (i32.const 32)))
      (br $next)))
    (local.set $max (i32.load (local.get $into)))
    (local.set $max (select (local.get $max) (i32x4.extract_lane 0 (local.get $m)) (i32.gt_u (local.get $max) (i32x4.extract_lane 0 (local.get $m)))))
    (local.set $max (select (local.get $max) (i32x4.extract_lane 1 (local.get $m)) (i32.gt_u (local.get $max) (i32x4.extract_lane 1 (local.get $m)))))
    (local.set $max (select (local.get $max) (i32x4.extract_lane 2 (local.get $m)) (i32.gt_u (local.get $max) (i32x4.extract_lane 2 (local.get $m)))))
    (local.set $max (select (local.get $max) (i32x4.extract_lane 3 (local.get $m)) (i32.gt_u (local.get $max) (i32x4.extract_lane 3 (local.get $m)))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
      (local.set $m (i32x4.splat (i32.and (i32.load (local.get $src)) (i32.const 0x7fffffff))))
      (local.set $max (select (local.get $max) (i32x4.extract_lane 0 (local.get $m)) (i32.gt_u (local.get $max) (i32x4.extract_lane 0 (local.get $m)))))
      (local.set $src (i32.add (local.get $src) (i32.const 4)))
      (br $next)))
    (i32.store (local.get $into) (local.get $max)))

  ;; Quantizes $rows full rows of a row-major binary32 matrix of $columns columns to E4M3, in blocks of $blockRows x
  ;; $blockColumns starting at row 0: each block's scale is amax / 448 (binary32 division; 1 where that is 0), stored
  ;; row-major at $scales ($scaleColumns a row), and each element is |x| / scale rounded (see $f32_to_e4m3_scaled).
  ;; A block holding NaN gets the scale 0x7fc00000, one holding an infinity the scale infinity. Returns the number of
  ;; blocks whose scale is not finite.
  (func (export "quantize_e4m3_blocks")
    (param $src i32) (param $dst i32) (param $rows i32) (param $columns i32)
    (param $scales i32) (param $scaleColumns i32) (param $blockRows i32) (param $blockColumns i32) (result i32)
    (local $bandStart i32) (local $bandEnd i32) (local $row i32) (local $col i32) (local $blockCol i32) (local $length i32)
    (local $rowSrc i32) (local $rowDst i32) (local $scaleRow i32) (local $amax i32) (local $scale f32) (local $nonFinite i32)
    (block $bandsDone (loop $bands
      (br_if $bandsDone (i32.ge_u (local.get $bandStart) (local.get $rows)))
      (local.set $bandEnd (i32.add (local.get $bandStart) (local.get $blockRows)))
      (local.set $bandEnd (select (local.get $bandEnd) (local.get $rows) (i32.lt_u (local.get $bandEnd) (local.get $rows))))
      (local.set $scaleRow (i32.add (local.get $scales) (i32.shl (i32.mul (i32.div_u (local.get $bandStart) (local.get $blockRows))
        (local.get $scaleColumns)) (i32.const 2))))
      (memory.fill (local.get $scaleRow) (i32.const 0) (i32.shl (local.get $scaleColumns) (i32.const 2)))
      ;; Pass 1: the amax bits of each block of the band, row by row.
      (local.set $row (local.get $bandStart))
      (block $rowsDone (loop $rowsNext
        (br_if $rowsDone (i32.ge_u (local.get $row) (local.get $bandEnd)))
        (local.set $rowSrc (i32.add (local.get $src) (i32.shl (i32.mul (local.get $row) (local.get $columns)) (i32.const 2))))
        (local.set $col (i32.const 0))
        (local.set $blockCol (i32.const 0))
        (block $colsDone (loop $colsNext
          (br_if $colsDone (i32.ge_u (local.get $col) (local.get $columns)))
          (local.set $length (select (local.get $blockColumns) (i32.sub (local.get $columns) (local.get $col))
            (i32.lt_u (local.get $blockColumns) (i32.sub (local.get $columns) (local.get $col)))))
          (call $abs_max_bits_run (i32.add (local.get $rowSrc) (i32.shl (local.get $col) (i32.const 2))) (local.get $length)
            (i32.add (local.get $scaleRow) (i32.shl (local.get $blockCol) (i32.const 2))))
          (local.set $col (i32.add (local.get $col) (local.get $length)))
          (local.set $blockCol (i32.add (local.get $blockCol) (i32.const 1)))
          (br $colsNext)))
        (local.set $row (i32.add (local.get $row) (i32.const 1)))
        (br $rowsNext)))
      ;; Pass 2: the scales.
      (local.set $blockCol (i32.const 0))
      (block $scalesDone (loop $scalesNext
        (br_if $scalesDone (i32.ge_u (local.get $blockCol) (local.get $scaleColumns)))
        (local.set $amax (i32.load (i32.add (local.get $scaleRow) (i32.shl (local.get $blockCol) (i32.const 2)))))
        (local.set $scale (f32.div (f32.reinterpret_i32 (local.get $amax)) (f32.const 448)))
        (local.set $scale (select (f32.const 1) (local.get $scale) (f32.eq (local.get $scale) (f32.const 0))))
        (local.set $scale (select (f32.reinterpret_i32 (i32.const 0x7fc00000)) (local.get $scale)
          (i32.gt_u (local.get $amax) (i32.const 0x7f800000))))
        (local.set $nonFinite (i32.add (local.get $nonFinite)
          (i32.ge_u (local.get $amax) (i32.const 0x7f800000))))
        (f32.store (i32.add (local.get $scaleRow) (i32.shl (local.get $blockCol) (i32.const 2))) (local.get $scale))
        (local.set $blockCol (i32.add (local.get $blockCol) (i32.const 1)))
        (br $scalesNext)))
      ;; Pass 3: the elements.
      (local.set $row (local.get $bandStart))
      (block $rowsDone (loop $rowsNext
        (br_if $rowsDone (i32.ge_u (local.get $row) (local.get $bandEnd)))
        (local.set $rowSrc (i32.add (local.get $src) (i32.shl (i32.mul (local.get $row) (local.get $columns)) (i32.const 2))))
        (local.set $rowDst (i32.add (local.get $dst) (i32.mul (local.get $row) (local.get $columns))))
        (local.set $col (i32.const 0))
        (local.set $blockCol (i32.const 0))
        (block $colsDone (loop $colsNext
          (br_if $colsDone (i32.ge_u (local.get $col) (local.get $columns)))
          (local.set $length (select (local.get $blockColumns) (i32.sub (local.get $columns) (local.get $col))
            (i32.lt_u (local.get $blockColumns) (i32.sub (local.get $columns) (local.get $col)))))
          (call $quantize_e4m3_run (i32.add (local.get $rowSrc) (i32.shl (local.get $col) (i32.const 2)))
            (i32.add (local.get $rowDst) (local.get $col)) (local.get $length)
            (f32.load (i32.add (local.get $scaleRow) (i32.shl (local.get $blockCol) (i32.const 2)))))
          (local.set $col (i32.add (local.get $col) (local.get $length)))
          (local.set $blockCol (i32.add (local.get $blockCol) (i32.const 1)))
          (br $colsNext)))
        (local.set $row (i32.add (local.get $row) (i32.const 1)))
        (br $rowsNext)))
      (local.set $bandStart (local.get $bandEnd))
      (br $bands)))
    (local.get $nonFinite))
)
