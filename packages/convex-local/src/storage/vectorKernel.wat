;; Dot products of one query against every row of a vector index, with WebAssembly SIMD
;; (vectorKernel.ts loads the compiled bytes; `npm run build:vector-kernel` regenerates them).
;; Rows are zero-padded to their stride, so neither loop has a tail.
(module
  ;; The memory of one index: its rows, then the query, then the results.
  (import "index" "memory" (memory 1))

  ;; out[row] = dot(rows[row], query) as float32, rows of `stride` floats (a multiple of 8).
  (func (export "dotsF32") (param $rows i32) (param $count i32) (param $stride i32) (param $query i32) (param $out i32)
    (local $row i32) (local $p i32) (local $i i32) (local $rowBytes i32) (local $a v128) (local $b v128)
    (local.set $rowBytes (i32.shl (local.get $stride) (i32.const 2)))
    (local.set $p (local.get $rows))
    (block $done
      (loop $eachRow
        (br_if $done (i32.ge_u (local.get $row) (local.get $count)))
        (local.set $a (v128.const f32x4 0 0 0 0))
        (local.set $b (v128.const f32x4 0 0 0 0))
        (local.set $i (i32.const 0))
        (block $rowDone
          (loop $eightAtATime
            (br_if $rowDone (i32.ge_u (local.get $i) (local.get $rowBytes)))
            (local.set $a (f32x4.add (local.get $a)
              (f32x4.mul (v128.load (i32.add (local.get $p) (local.get $i))) (v128.load (i32.add (local.get $query) (local.get $i))))))
            (local.set $b (f32x4.add (local.get $b)
              (f32x4.mul (v128.load offset=16 (i32.add (local.get $p) (local.get $i))) (v128.load offset=16 (i32.add (local.get $query) (local.get $i))))))
            (local.set $i (i32.add (local.get $i) (i32.const 32)))
            (br $eightAtATime)))
        (local.set $a (f32x4.add (local.get $a) (local.get $b)))
        (f32.store (i32.add (local.get $out) (i32.shl (local.get $row) (i32.const 2)))
          (f32.add
            (f32.add (f32x4.extract_lane 0 (local.get $a)) (f32x4.extract_lane 1 (local.get $a)))
            (f32.add (f32x4.extract_lane 2 (local.get $a)) (f32x4.extract_lane 3 (local.get $a)))))
        (local.set $p (i32.add (local.get $p) (local.get $rowBytes)))
        (local.set $row (i32.add (local.get $row) (i32.const 1)))
        (br $eachRow))))

  ;; out[row] = dot(rows[row], query) as int32, rows of `stride` int8s (a multiple of 16) in [-127, 127]:
  ;; at most 4096 dimensions, so no sum leaves int32.
  (func (export "dotsI8") (param $rows i32) (param $count i32) (param $stride i32) (param $query i32) (param $out i32)
    (local $row i32) (local $p i32) (local $i i32) (local $v v128) (local $w v128) (local $acc v128)
    (local.set $p (local.get $rows))
    (block $done
      (loop $eachRow
        (br_if $done (i32.ge_u (local.get $row) (local.get $count)))
        (local.set $acc (v128.const i32x4 0 0 0 0))
        (local.set $i (i32.const 0))
        (block $rowDone
          (loop $sixteenAtATime
            (br_if $rowDone (i32.ge_u (local.get $i) (local.get $stride)))
            (local.set $v (v128.load (i32.add (local.get $p) (local.get $i))))
            (local.set $w (v128.load (i32.add (local.get $query) (local.get $i))))
            (local.set $acc (i32x4.add (local.get $acc)
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (i16x8.extend_low_i8x16_s (local.get $w)))))
            (local.set $acc (i32x4.add (local.get $acc)
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (i16x8.extend_high_i8x16_s (local.get $w)))))
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (br $sixteenAtATime)))
        (i32.store (i32.add (local.get $out) (i32.shl (local.get $row) (i32.const 2)))
          (i32.add
            (i32.add (i32x4.extract_lane 0 (local.get $acc)) (i32x4.extract_lane 1 (local.get $acc)))
            (i32.add (i32x4.extract_lane 2 (local.get $acc)) (i32x4.extract_lane 3 (local.get $acc)))))
        (local.set $p (i32.add (local.get $p) (local.get $stride)))
        (local.set $row (i32.add (local.get $row) (i32.const 1)))
        (br $eachRow))))
)
