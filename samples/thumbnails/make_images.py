"""Writes the sample images into images/: one of each format the thumbnail function takes, a
portrait JPEG stored sideways with an EXIF orientation, and a broken file. They are drawn here
(gradients and shapes), so they are small and free of any rights."""
import io
import pathlib

from PIL import Image, ImageDraw

HERE = pathlib.Path(__file__).parent / "images"


def picture(width, height, hue):
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        shade = int(255 * y / max(1, height - 1))
        draw.line([(0, y), (width, y)], fill=(hue, shade, 255 - shade))
    draw.ellipse([width // 4, height // 4, 3 * width // 4, 3 * height // 4], outline=(255, 255, 255), width=4)
    draw.rectangle([8, 8, width // 5, height // 5], fill=(255, 220, 0))
    return image


def main():
    HERE.mkdir(exist_ok=True)
    picture(640, 480, 40).save(HERE / "landscape.jpg", quality=85)
    picture(300, 500, 120).save(HERE / "portrait.png")
    picture(400, 400, 200).save(HERE / "square.webp", quality=80)
    frames = [picture(200, 120, h) for h in (0, 90, 180)]
    frames[0].save(HERE / "banner.gif", save_all=True, append_images=frames[1:], duration=200, loop=0)
    # Stored 480x640 on its side; EXIF orientation 6 says "turn 90° clockwise to show".
    sideways = picture(360, 640, 250).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways.save(HERE / "rotated.jpg", exif=exif, quality=85)
    picture(96, 64, 60).save(HERE / "small.png")
    (HERE / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")


if __name__ == "__main__":
    main()
