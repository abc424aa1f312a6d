/* RP2040 second-stage boot loader ("boot2") for the Winbond W25Q080 on the Raspberry Pi Pico, written for tinyml.
 *
 * The boot ROM reads the first 256 bytes of flash into SRAM (0x20041F00), checks the CRC-32 in their last four
 * bytes and runs them (RP2040 datasheet section 2.8.1 "Boot sequence"); tinyml.device.boot2 puts that CRC in at
 * build time. This code sets the XIP SSI up for plain serial reads, command 03h with a 24-bit address and one
 * 32-bit frame per read (datasheet section 4.10 "SSI"; W25Q80DV datasheet "Read Data (03h)"), at clk_sys / 4:
 * 31.25 MHz once the firmware runs clk_sys at 125 MHz, within the 50 MHz that command 03h allows. It then starts
 * the image through its vector table at 0x10000100: VTOR, main stack pointer, reset handler.
 *
 * It runs from SRAM, so it must be position independent: constants come from the literal pool, the only
 * absolute address used is the image's (in flash). At most 252 bytes (the linker script checks).
 * NOT RUN ON A PICO: see docs/FIRMWARE.md for what was checked instead. */
    .syntax unified
    .cpu cortex-m0plus
    .thumb

    .equ SSI_BASE, 0x18000000
    .equ SSI_CTRLR0, 0x00
    .equ SSI_CTRLR1, 0x04
    .equ SSI_SSIENR, 0x08
    .equ SSI_BAUDR, 0x14
    .equ SSI_SPI_CTRLR0, 0xF4
    .equ SCB_VTOR, 0xE000ED08
    /* CTRLR0: SPI_FRF (22:21) 0 = standard SPI, DFS_32 (20:16) 31 = 32-bit frames, TMOD (9:8) 3 = EEPROM read
     * (send command and address, then receive) */
    .equ CTRLR0_XIP, (31 << 16) | (3 << 8)
    /* SPI_CTRLR0: XIP_CMD (31:24) 03h, INST_L (9:8) 2 = 8-bit command, ADDR_L (5:2) 6 = 24 address bits,
     * TRANS_TYPE (1:0) 0 = command and address both on one line */
    .equ SPI_CTRLR0_XIP, (0x03 << 24) | (2 << 8) | (6 << 2)
    .equ CLKDIV, 4

    .section .boot2, "ax"
    .global tm_boot2
    .type tm_boot2, %function
tm_boot2:
    ldr r3, =SSI_BASE
    movs r0, #0
    str r0, [r3, #SSI_SSIENR]      /* the SSI must be off while it is configured */
    movs r0, #CLKDIV
    str r0, [r3, #SSI_BAUDR]
    ldr r0, =CTRLR0_XIP
    str r0, [r3, #SSI_CTRLR0]
    movs r0, #0
    str r0, [r3, #SSI_CTRLR1]      /* NDF = 0: one data frame per XIP read */
    ldr r0, =SPI_CTRLR0_XIP
    ldr r1, =SSI_BASE + SSI_SPI_CTRLR0
    str r0, [r1]
    movs r0, #1
    str r0, [r3, #SSI_SSIENR]      /* flash reads at 0x10000000 now go out as 03h commands */

    ldr r0, =tm_vectors            /* the image's vector table, 0x10000100 */
    ldr r1, =SCB_VTOR
    str r0, [r1]
    ldr r1, [r0]
    msr msp, r1
    ldr r1, [r0, #4]
    bx r1
    .size tm_boot2, . - tm_boot2
    .ltorg
