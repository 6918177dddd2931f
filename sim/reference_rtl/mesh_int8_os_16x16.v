// mesh_int8_os_16x16: a hand-written output-stationary INT8 systolic array (Verilog-2005).
//
// What it is: a resource reference for the generated mesh, written by hand, not generated. It
// has the same ports and the same cycle-by-cycle behaviour as
//     Mesh(ArrayConfig(pe=replace(PRESETS["int_mac_w8a8"], lanes=1), rows=16, cols=16,
//                      dataflow="os"))
// (mpgemm.hw.array.mesh, PEs from mpgemm.pe_designs.mac.rtl.IntMacPE), converted with
// amaranth.back.verilog, so that synthesising both with the same Yosys flow compares the
// generator against what an RTL engineer would write for the same function
// (python -m mpgemm.hw.flow.reference).
//
// How its function is checked: tests/test_reference_rtl.py simulates it and the generated
// mesh side by side on Icarus (sim/cocotb/tb_mesh_equiv.py) with the same seeded random
// stimulus -- operands, control words in realistic orders and at random, reset pulses -- and
// compares every output in every cycle, at 4 x 4 (ROWS = COLS = 4) and at 16 x 16; it also
// checks that a one-line mutation of this file is caught.
//
// Function (ports as Amaranth flattens them: lane r of i_a is i_a[8r+7:8r], column k of o_row
// is o_row[32k+31:32k]; all two's complement):
//   i_ctl = {group_end, last, first, load_w, valid} (bit 0 = valid; sim/golden/ports.py).
//   PE (r, c) sees the i_a[r], i_w[c] and i_ctl of r + c cycles ago. A beat with valid sets
//   acc = (first ? 0 : acc) + a * w, w being that beat's i_w[c] if load_w is set and
//   otherwise the last i_w[c] loaded with load_w (zero after reset); valid & last also copies
//   the new acc into the PE's result register. One cycle after PE (r, COLS-1) closes an
//   accumulation, o_row_valid = 1, o_row_index = r and o_row = row r's result registers; if
//   several rows close in the same cycle the highest wins, and o_row = 0 when none does.
//   rst is synchronous; everything powers up as after a reset.
//
// Where it saves logic against a PE-by-PE netlist (why, in the hardware):
//   * Control: every PE on an anti-diagonal r + c = d sees the same control word, so one delay
//     line feeds the whole array instead of a control register per PE.
//   * Weights: the weight a beat uses only depends on column c's input stream, so it is chosen
//     once at the top edge (i_w or the held weight) and that choice travels down the column.
//     The held weight is then just the first register of the column's delay line: no PE holds
//     a weight register of its own, and no PE below the edge needs load_w.
//   * Results: the last column's result is read in the cycle after it closes, when acc still
//     holds it, so that column needs no result register.
//   * Arithmetic: the product is sign-extended by hand into an unsigned accumulate (see the
//     PE), which Yosys maps to a multiplier and a carry chain.
//   * Output: a one-hot row select and an AND-OR instead of a priority chain of multiplexers.
//
// ROWS, COLS >= 2. Lint: verilator --lint-only -Wall -Wno-PROCASSINIT (registers carry their
// power-on value in the declaration, as in Amaranth's output).

`default_nettype none

module mesh_int8_os_16x16 #(
    parameter ROWS = 16,
    parameter COLS = 16
) (
    input  wire                        clk,
    input  wire                        rst,
    // group_end (i_ctl[4]) is part of the PE contract's control word; an integer MAC ignores it.
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire [4:0]                  i_ctl,
    /* verilator lint_on UNUSEDSIGNAL */
    input  wire [8*ROWS-1:0]           i_a,
    input  wire [8*COLS-1:0]           i_w,
    output wire                        o_row_valid,
    output wire [$clog2(ROWS)-1:0]     o_row_index,
    output wire [32*COLS-1:0]          o_row
);

    // Largest delay a PE uses; a row's completion flag is one stage further.
    localparam DMAX = ROWS + COLS - 2;
    localparam IW = $clog2(ROWS);

    // Delay lines live in net arrays of words (one net per word, which keeps event-driven
    // simulators fast): line i holds delays 0 .. i + n - 1 of its input from word base(i, n).
    // Row r's activations: base(r, COLS); column c's weights: base(c, ROWS).
    function integer base;
        input integer i, n;
        base = i * n + i * (i - 1) / 2;
    endfunction

    genvar r, c, d;

    // ---- control: one line for the whole array ------------------------------------------
    // ctl[d] = {valid & last, first, valid} of i_ctl delayed d cycles. load_w is used at the
    // top edge only, and group_end means nothing to an integer MAC.
    wire [2:0] ctl [0:DMAX];
    assign ctl[0] = {i_ctl[0] & i_ctl[3], i_ctl[2], i_ctl[0]};
    generate
        for (d = 1; d <= DMAX; d = d + 1) begin : g_ctl
            reg [2:0] q = 3'b000;
            always @(posedge clk) q <= rst ? 3'b000 : ctl[d-1];
            assign ctl[d] = q;
        end
    endgenerate
    // Row r is complete one cycle after PE (r, COLS-1) closes: valid & last delayed r + COLS.
    reg done_end = 1'b0;
    always @(posedge clk) done_end <= rst ? 1'b0 : ctl[DMAX][2];
    wire [ROWS-1:0] row_done;
    generate
        for (r = 0; r < ROWS; r = r + 1) begin : g_done
            if (r + COLS <= DMAX) begin : g_line
                assign row_done[r] = ctl[r+COLS][2];
            end else begin : g_end
                assign row_done[r] = done_end;
            end
        end
    endgenerate

    // ---- activations: row r's line, delays 0 .. r + COLS - 1 ------------------------------
    // Data lines need no reset: a stale operand only ever meets a reset (invalid) control word.
    wire [7:0] a_line [0:base(ROWS, COLS)-1];
    generate
        for (r = 0; r < ROWS; r = r + 1) begin : g_a
            assign a_line[base(r, COLS)] = i_a[8*r +: 8];
            for (d = 1; d < r + COLS; d = d + 1) begin : g_stage
                reg [7:0] q = 8'h00;
                always @(posedge clk) q <= a_line[base(r, COLS) + d - 1];
                assign a_line[base(r, COLS) + d] = q;
            end
        end
    endgenerate

    // ---- weights: column c's line, delays 0 .. c + ROWS - 1 -------------------------------
    // Delay 0 is the weight the beat uses: i_w when load_w is set, else the held weight. The
    // held weight is delay 1 (the weight used one cycle ago), the one weight register that
    // needs a reset.
    wire [7:0] w_line [0:base(COLS, ROWS)-1];
    generate
        for (c = 0; c < COLS; c = c + 1) begin : g_w
            reg  [7:0] held = 8'h00;
            wire [7:0] w_beat = i_ctl[1] ? i_w[8*c +: 8] : held;
            always @(posedge clk) held <= rst ? 8'h00 : w_beat;
            assign w_line[base(c, ROWS)] = w_beat;
            assign w_line[base(c, ROWS) + 1] = held;
            for (d = 2; d < c + ROWS; d = d + 1) begin : g_stage
                reg [7:0] q = 8'h00;
                always @(posedge clk) q <= w_line[base(c, ROWS) + d - 1];
                assign w_line[base(c, ROWS) + d] = q;
            end
        end
    endgenerate

    // ---- the PEs --------------------------------------------------------------------------
    // psum[COLS*r + c]: PE (r, c)'s result as the output select reads it.
    wire [31:0] psum [0:ROWS*COLS-1];
    generate
        for (r = 0; r < ROWS; r = r + 1) begin : g_row
            for (c = 0; c < COLS; c = c + 1) begin : g_pe
                wire               valid = ctl[r+c][0];
                wire               first = ctl[r+c][1];
                wire signed [7:0]  a = a_line[base(r, COLS) + r + c];
                wire signed [7:0]  w = w_line[base(c, ROWS) + r + c];
                // A 16-bit product, sign-extended by hand into an unsigned 32-bit add: Yosys
                // then builds an 8 x 8 multiplier and a 32-bit carry-chain adder, where a
                // signed acc + a * w becomes one 32-bit-wide multiply-add tree of LUTs.
                wire signed [15:0] prod = a * w;
                reg         [31:0] acc = 32'd0;
                wire        [31:0] sum = (first ? 32'd0 : acc) + {{16{prod[15]}}, prod};
                always @(posedge clk)
                    if (rst)
                        acc <= 32'd0;
                    else if (valid)
                        acc <= sum;
                if (c < COLS - 1) begin : g_result
                    // Needs no reset: a row is only read after every PE of it has closed an
                    // accumulation since the reset.
                    wire       close = ctl[r+c][2];
                    reg [31:0] q = 32'd0;
                    always @(posedge clk) if (close) q <= sum;
                    assign psum[COLS*r + c] = q;
                end else begin : g_acc
                    assign psum[COLS*r + c] = acc;
                end
            end
        end
    endgenerate

    // ---- output row select ----------------------------------------------------------------
    // A one-hot select of the highest complete row, then an AND-OR of the rows: in LUT4s
    // cheaper than a chain of 2:1 multiplexers. Continuous assignments rather than an always
    // block, so that a simulator computes the outputs from time 0.
    wire [ROWS-1:0] sel;
    wire [31:0]     col_or [0:COLS*(ROWS+1)-1];  // col_or[COLS*r + c]: column c of rows < r
    wire [IW-1:0]   index_or [0:ROWS];
    assign index_or[0] = {IW{1'b0}};
    generate
        for (r = 0; r < ROWS; r = r + 1) begin : g_sel
            if (r == ROWS - 1) begin : g_top
                assign sel[r] = row_done[r];
            end else begin : g_below
                assign sel[r] = row_done[r] & ~|row_done[ROWS-1:r+1];
            end
            localparam [IW-1:0] INDEX = r;
            assign index_or[r+1] = index_or[r] | (sel[r] ? INDEX : {IW{1'b0}});
            for (c = 0; c < COLS; c = c + 1) begin : g_col
                assign col_or[COLS*(r+1) + c] =
                    col_or[COLS*r + c] | ({32{sel[r]}} & psum[COLS*r + c]);
            end
        end
        for (c = 0; c < COLS; c = c + 1) begin : g_out
            assign col_or[c] = 32'd0;
            assign o_row[32*c +: 32] = col_or[COLS*ROWS + c];
        end
    endgenerate
    assign o_row_valid = |row_done;
    assign o_row_index = index_or[ROWS];

endmodule

`default_nettype wire
